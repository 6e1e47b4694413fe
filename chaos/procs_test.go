//go:build linux

package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a process a test started; it is stopped by its PID in
// t.Cleanup, however the test ends.
type proc struct {
	name  string
	cmd   *exec.Cmd
	log   string         // its stdout and stderr
	stdin io.WriteCloser // held open: a host started as a lab child ends when it closes
	done  chan struct{}  // closed when it has exited
	err   error          // cmd.Wait's, once done
}

// startProc starts cmd with its output in dir/name.log.
func startProc(t testing.TB, dir, name string, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{name: name, cmd: cmd, log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	// If the test binary dies, its processes get SIGTERM.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// signal sends sig to this process, by its PID.
func (p *proc) signal(sig syscall.Signal) error { return syscall.Kill(p.pid(), sig) }

// waitExit reports whether the process exited within d.
func (p *proc) waitExit(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *proc) exited() bool { return p.waitExit(0) }

// stop ends the process: SIGCONT (a fault may have stopped it), its
// standard input closed, SIGTERM, and SIGKILL if it has not exited
// within 15 s.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	p.signal(syscall.SIGCONT)
	p.stdin.Close()
	p.signal(syscall.SIGTERM)
	if !p.waitExit(15 * time.Second) {
		p.signal(syscall.SIGKILL)
		p.waitExit(5 * time.Second)
	}
}

// tail is the end of the process's log, for failure messages.
func (p *proc) tail() string {
	b, _ := os.ReadFile(p.log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-12):], "\n")
}

// logLine is one JSON line of a krbfarm log (zap).
type logLine struct {
	Msg  string `json:"msg"`
	Addr string `json:"addr"`
	Op   string `json:"op"`
}

// logLines reads the process's JSON log lines; other lines are skipped.
func (p *proc) logLines() []logLine {
	f, err := os.Open(p.log)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []logLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l logLine
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// countLog counts the log lines whose message is msg.
func (p *proc) countLog(msg string) int {
	n := 0
	for _, l := range p.logLines() {
		if l.Msg == msg {
			n++
		}
	}
	return n
}

// waitLog waits, up to d, for a log line with message msg and returns it.
func (p *proc) waitLog(t testing.TB, msg string, d time.Duration) logLine {
	t.Helper()
	var found logLine
	ok := poll(d, func() bool {
		for _, l := range p.logLines() {
			if l.Msg == msg {
				found = l
				return true
			}
		}
		return p.exited()
	})
	if !ok || found.Msg == "" {
		t.Fatalf("%s: no %q log line within %v (exited: %v); log:\n%s", p.name, msg, d, p.exited(), p.tail())
	}
	return found
}

// pollEvery is how often poll looks again.
const pollEvery = 20 * time.Millisecond

// poll calls cond until it is true or d has passed (at most d/pollEvery+1
// calls), and reports whether it became true.
func poll(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	deadline := time.After(d)
	for i := 0; i <= int(d/pollEvery)+1; i++ {
		if cond() {
			return true
		}
		select {
		case <-deadline:
			return cond()
		case <-tick.C:
		}
	}
	return cond()
}

// gone reports whether pid has exited (no process, or a zombie not yet
// reaped by its parent).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
}

// stopped reports whether pid is stopped (SIGSTOP).
func stopped(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'T'
}
