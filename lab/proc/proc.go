package proc

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Process is a child program the lab started and must stop. Its stdout and
// stderr go to a log file; an optional ready line, looked for in that output,
// tells when it is serving.
type Process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stdin   io.WriteCloser // closed on Stop: children watch it to notice a dead parent
	ready   chan struct{}  // closed when the ready line is seen (or at once if none)
	done    chan struct{}  // closed when the Process has exited and its output is in the log
	drained chan struct{}  // closed when the output pipe reached EOF (or at once if none)
	waitErr error
	once    sync.Once

	stopping atomic.Bool // Stop or Kill was called: the exit is expected
	mu       sync.Mutex  // guards onExit and exited
	onExit   func(Exit)
	exited   bool
}

// Start starts cmd with its output appended to logPath. If readyLine
// is not empty, Ready() is closed when a line containing it is printed.
// Children get their own Process group (a terminal's Ctrl-C goes to us, and
// we stop them in order) and SIGKILL if this Process dies first.
func Start(name string, cmd *exec.Cmd, logPath, readyLine string) (*Process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	p := &Process{name: name, cmd: cmd, logPath: logPath, ready: make(chan struct{}), done: make(chan struct{}), drained: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		logf.Close()
		return nil, err
	}
	out, err := p.wireOutput(logf, readyLine)
	if err != nil {
		logf.Close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, cmd.Path, err)
	}
	go p.wait(logf, out)
	return p, nil
}

// wireOutput sends the child's output to logf, through a scanner when a ready
// line must be watched for. It returns the reader end to drain, if any.
func (p *Process) wireOutput(logf *os.File, readyLine string) (io.ReadCloser, error) {
	if readyLine == "" {
		p.cmd.Stdout, p.cmd.Stderr = logf, logf
		close(p.ready)
		close(p.drained)
		return nil, nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	go p.scanFor(r, logf, readyLine)
	return w, nil
}

// scanFor copies the child's output to logf and closes ready at the line
// that contains want.
func (p *Process) scanFor(r io.ReadCloser, logf io.Writer, want string) {
	defer close(p.drained)
	defer r.Close()
	sc := bufio.NewScanner(r)
	seen := false
	for sc.Scan() {
		line := sc.Bytes()
		logf.Write(append(line, '\n'))
		if !seen && bytes.Contains(line, []byte(want)) {
			seen = true
			close(p.ready)
		}
	}
}

func (p *Process) wait(logf *os.File, pipeW io.Closer) {
	if pipeW != nil {
		pipeW.Close() // the child holds its own copy
	}
	p.waitErr = p.cmd.Wait()
	// The last lines may still be in the pipe: a start-up error quotes
	// them from the log. A grandchild holding the pipe open must not
	// hold us, hence the bound.
	t := time.NewTimer(2 * time.Second)
	select {
	case <-p.drained:
	case <-t.C:
	}
	t.Stop()
	logf.Close()
	p.mu.Lock()
	p.exited = true
	fn := p.onExit
	p.mu.Unlock()
	if fn != nil && !p.stopping.Load() {
		fn(p.exit())
	}
	close(p.done)
}

// NotifyExit calls fn once if the child ends without Stop or Kill, or at
// once if it already has. fn runs before Done is closed, so it must not
// block nor stop the child's owner.
func (p *Process) NotifyExit(fn func(Exit)) {
	p.mu.Lock()
	p.onExit = fn
	exited := p.exited
	p.mu.Unlock()
	if exited && !p.stopping.Load() {
		fn(p.exit())
	}
}

// exit describes how the child ended; call it once it has.
func (p *Process) exit() Exit {
	ex := Exit{Name: p.name, PID: p.PID(), Code: -1, LogPath: p.logPath, Tail: p.tail(TailLines)}
	ex.Status = fmt.Sprint(p.waitErr)
	if st := p.cmd.ProcessState; st != nil {
		ex.Status = st.String()
		ex.Code = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ex.Signal = ws.Signal()
		}
	}
	return ex
}

// Err is how the child's Wait ended; call it once Done is closed.
func (p *Process) Err() error { return p.waitErr }

// PID is the child's process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// WaitReady waits for the ready line, the child's exit, or the timeout.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return nil
	case <-p.done:
		return fmt.Errorf("%s exited during start-up (%v); last lines of %s:\n%s", p.name, p.waitErr, p.logPath, p.tail(12))
	case <-t.C:
		return fmt.Errorf("%s not ready after %s; last lines of %s:\n%s", p.name, timeout, p.logPath, p.tail(12))
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop asks the child to end (SIGTERM, and its stdin closed) and kills it
// if it has not ended within grace. Safe to call more than once.
func (p *Process) Stop(grace time.Duration) error {
	p.stopping.Store(true)
	p.once.Do(func() {
		p.stdin.Close()
		p.cmd.Process.Signal(syscall.SIGTERM)
	})
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		p.cmd.Process.Kill()
		<-p.done
	}
	return nil
}

// Kill ends the child at once, as a crashed host would, and waits for it.
func (p *Process) Kill() {
	p.stopping.Store(true)
	p.cmd.Process.Kill()
	<-p.done
}

// tail returns the last n lines of the child's log.
func (p *Process) tail(n int) string {
	return TailFile(p.logPath, n)
}

func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// TailLines is how many lines of its log an Exit quotes.
const TailLines = 10

// Exit describes a child process (the KDC or a host) that ended when its
// owner had not asked it to: crashed, killed by someone, or failed.
type Exit struct {
	Name    string         // e.g. "backend server1", "krb5kdc"
	Host    string         // the host's name; "" for the KDC
	PID     int            // the process it was
	Status  string         // as the OS says: "signal: killed", "exit status 1"
	Code    int            // exit code, -1 if a signal ended it
	Signal  syscall.Signal // the signal that ended it, 0 if it exited
	LogPath string         // its log
	Tail    string         // the last lines of that log, indented
}

// KDC reports whether the child was the farm's KDC.
func (e Exit) KDC() bool { return e.Host == "" }

func (e Exit) String() string {
	return fmt.Sprintf("%s (pid %d) exited unexpectedly: %s; last lines of %s:\n%s", e.Name, e.PID, e.Status, e.LogPath, e.Tail)
}
