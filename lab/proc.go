package lab

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

// process is a child program the lab started and must stop. Its stdout and
// stderr go to a log file; an optional ready line, looked for in that output,
// tells when it is serving.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	stdin   io.WriteCloser // closed on Stop: children watch it to notice a dead parent
	ready   chan struct{}  // closed when the ready line is seen (or at once if none)
	done    chan struct{}  // closed when the process has exited and its output is in the log
	drained chan struct{}  // closed when the output pipe reached EOF (or at once if none)
	waitErr error
	once    sync.Once

	stopping atomic.Bool // Stop or Kill was called: the exit is expected
	mu       sync.Mutex  // guards onExit and exited
	onExit   func(ChildExit)
	exited   bool
}

// startProcess starts cmd with its output appended to logPath. If readyLine
// is not empty, Ready() is closed when a line containing it is printed.
// Children get their own process group (a terminal's Ctrl-C goes to us, and
// we stop them in order) and SIGKILL if this process dies first.
func startProcess(name string, cmd *exec.Cmd, logPath, readyLine string) (*process, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%s: open log: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, ready: make(chan struct{}), done: make(chan struct{}), drained: make(chan struct{})}
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
func (p *process) wireOutput(logf *os.File, readyLine string) (io.ReadCloser, error) {
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
func (p *process) scanFor(r io.ReadCloser, logf io.Writer, want string) {
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

func (p *process) wait(logf *os.File, pipeW io.Closer) {
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

// notifyExit calls fn once if the child ends without Stop or Kill, or at
// once if it already has. fn runs before Done is closed, so it must not
// block nor stop the child's owner.
func (p *process) notifyExit(fn func(ChildExit)) {
	p.mu.Lock()
	p.onExit = fn
	exited := p.exited
	p.mu.Unlock()
	if exited && !p.stopping.Load() {
		fn(p.exit())
	}
}

// exit describes how the child ended; call it once it has.
func (p *process) exit() ChildExit {
	ex := ChildExit{Name: p.name, PID: p.PID(), Code: -1, LogPath: p.logPath, Tail: p.tail(exitTailLines)}
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

// PID is the child's process ID.
func (p *process) PID() int { return p.cmd.Process.Pid }

// Done is closed when the child has exited.
func (p *process) Done() <-chan struct{} { return p.done }

// waitReady waits for the ready line, the child's exit, or the timeout.
func (p *process) waitReady(ctx context.Context, timeout time.Duration) error {
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
func (p *process) Stop(grace time.Duration) error {
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
func (p *process) Kill() {
	p.stopping.Store(true)
	p.cmd.Process.Kill()
	<-p.done
}

// tail returns the last n lines of the child's log.
func (p *process) tail(n int) string {
	return tailFile(p.logPath, n)
}

func tailFile(path string, n int) string {
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
