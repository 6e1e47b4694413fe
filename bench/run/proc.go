package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs starts the processes of a bench run and stops them by the PID it
// started, each in its own process group (so nginx's workers go with their
// master). Every PID is also appended to pidFile, for the shell script's
// trap to clean up if this program itself is killed.
type procs struct {
	dir     string
	pidFile string
	mu      sync.Mutex
	all     []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	log  string        // its stdout and stderr
}

// start runs argv in the background, pinned to cpus when not empty.
func (ps *procs) start(name, cpus string, argv ...string) (*proc, error) {
	return ps.startEnv(name, cpus, nil, argv...)
}

// startEnv is start with env added to the bench's environment.
func (ps *procs) startEnv(name, cpus string, env []string, argv ...string) (*proc, error) {
	if cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...) // taskset execs: same PID
	}
	logPath := filepath.Join(ps.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() { _ = cmd.Wait(); close(p.done) }()
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	ps.recordPID(p)
	return p, nil
}

func (ps *procs) recordPID(p *proc) {
	f, err := os.OpenFile(ps.pidFile, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err == nil {
		fmt.Fprintf(f, "%d %s\n", p.cmd.Process.Pid, p.name)
		f.Close()
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM, waits up to 5s, then kills the process group.
func (p *proc) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL) // leftovers in its group, if any
}

// stopAll stops every process still running, newest first, then empties
// the PID file: nothing is left for the script's trap to stop.
func (ps *procs) stopAll() {
	ps.mu.Lock()
	all := append([]*proc(nil), ps.all...)
	ps.mu.Unlock()
	for i := len(all) - 1; i >= 0; i-- {
		all[i].stop()
	}
	_ = os.Truncate(ps.pidFile, 0)
}

// logTail is the end of p's log, for error messages.
func (p *proc) logTail() string {
	b, _ := os.ReadFile(p.log)
	s := strings.TrimSpace(string(b))
	if len(s) > 600 {
		s = "..." + s[len(s)-600:]
	}
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls check every 20ms until it succeeds, p exits, or 10s pass.
func waitReady(ctx context.Context, p *proc, check func() error) error {
	return waitReadyFor(ctx, p, 10*time.Second, check)
}

// waitReadyFor is waitReady for up to limit.
func waitReadyFor(ctx context.Context, p *proc, limit time.Duration, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited: %s", p.name, p.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (log: %s)", p.name, err, p.logTail())
		case <-tick.C:
		}
	}
}

// httpOK returns a check that GETs url and wants a 200.
func httpOK(url string) func() error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the bench's own self-signed cert
		DisableKeepAlives: true,
	}}
	return func() error {
		res, err := c.Get(url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return errors.New(res.Status)
		}
		return nil
	}
}

// tcpOK returns a check that connects to addr.
func tcpOK(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
}

// treeStat sums VmRSS (KiB) and open fds over pid and its children.
func treeStat(pid int) (rssKiB, fds int64, err error) {
	for _, p := range append([]int{pid}, children(pid)...) {
		r, err := vmRSS(p)
		if err != nil {
			return 0, 0, err
		}
		rssKiB += r
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p))
		fds += int64(len(ents))
	}
	return rssKiB, fds, nil
}

func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("pid %d: no VmRSS", pid)
}

// children lists the direct children of pid (nginx's workers).
func children(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n))
		if err != nil {
			continue
		}
		// Fields after the ")" that ends the command name: state, ppid.
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}
