//go:build linux

package lb

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// The child process of TestFDExhaustionNeverBlamesBackend: its engine,
// and its backend's address.
const (
	fdChildEngine  = "KRBFARM_LB_FDCHILD_ENGINE"
	fdChildBackend = "KRBFARM_LB_FDCHILD_BACKEND"
	fdHeadroom     = 24 // descriptors the child may open beyond those it holds once serving
)

// TestFDExhaustionNeverBlamesBackend runs a balancer in a child process
// whose open-file limit is a few descriptors above what it holds idle
// (RLIMIT_NOFILE is process-wide: setting it here would starve every
// other test), opens more clients than that, and checks that running out
// of descriptors is the balancer's own problem: the backend is never
// marked down, krbfarm_lb_fd_exhausted_total counts it, the log says
// what to raise, and once the clients close new ones are served.
// Before the fix, the failed socket() took the backend down and the
// waiting clients were closed with "no backend".
func TestFDExhaustionNeverBlamesBackend(t *testing.T) {
	for _, engine := range []string{EngineGoroutine, EngineEpoll} {
		t.Run(engine, func(t *testing.T) { testFDExhaustion(t, engine) })
	}
}

func testFDExhaustion(t *testing.T, engine string) {
	be := listen(t)
	serve(be, func(c net.Conn) { io.Copy(c, c) })
	child := startFDChild(t, engine, be.Addr().String())
	var clients []net.Conn
	defer func() { // on a failure midway; closing twice is harmless
		for _, c := range clients {
			c.Close()
		}
	}()
	for range 3 * fdHeadroom {
		c, err := net.Dial("tcp", child.front)
		if err != nil {
			t.Fatalf("dial front: %v", err)
		}
		clients = append(clients, c)
		c.Write([]byte("x"))
	}
	child.log.waitFor(t, "raise ulimit -n", "backend down")
	for _, c := range clients {
		c.Close()
	}
	st := child.waitIdle(t, uint64(len(clients)))
	if logs := child.log.String(); strings.Contains(logs, "backend down") {
		t.Errorf("the backend was marked down for the balancer's own fd limit:\n%s", logs)
	}
	if len(st.Backends) != 1 || !st.Backends[0].Healthy {
		t.Errorf("status after the clients closed: %+v; want the backend healthy", st.Backends)
	}
	if st.FDExhausted == 0 {
		t.Errorf("status fd_exhausted = 0; want the exhaustion counted")
	}
	if m := child.get(t, "/metrics"); !strings.Contains(m, `krbfarm_lb_fd_exhausted_total{op="`) {
		t.Errorf("/metrics has no krbfarm_lb_fd_exhausted_total")
	}
	if got := echo(t, child.front, "hello"); got != "hello" {
		t.Errorf("a new client after the storm got %q; want hello", got)
	}
}

// fdChild is the balancer process of the test.
type fdChild struct {
	front, admin string
	log          *lineLog
}

// startFDChild runs this test binary as the balancer's process, and stops
// it (closing its stdin, then by PID if need be) when the test ends.
func startFDChild(t *testing.T, engine, backend string) *fdChild {
	cmd := exec.Command(os.Args[0], "-test.run=^TestFDLimitChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fdChildEngine+"="+engine, fdChildBackend+"="+backend)
	ch := &fdChild{log: &lineLog{changed: make(chan struct{}, 1)}}
	cmd.Stderr = ch.log
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(waitLimit):
			cmd.Process.Kill()
			<-exited
		}
	})
	addrs := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		addrs <- line
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-addrs:
		if _, err := fmt.Sscanf(line, "FDCHILD %s %s", &ch.front, &ch.admin); err != nil {
			t.Fatalf("child said %q (%v); log:\n%s", line, err, ch.log.String())
		}
	case <-time.After(waitLimit):
		t.Fatalf("child not ready within %v; log:\n%s", waitLimit, ch.log.String())
	}
	return ch
}

// get fetches an admin page, retrying (bounded) while the child has no
// descriptor to accept with.
func (c *fdChild) get(t *testing.T, path string) string {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(waitLimit)
	for {
		resp, err := client.Get("http://" + c.admin + path)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(b)
			}
			err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by deadline
	}
}

// waitIdle polls /status until the balancer has accepted n clients (the
// backlog is empty) and none is open.
func (c *fdChild) waitIdle(t *testing.T, n uint64) Status {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		var st Status
		if err := json.Unmarshal([]byte(c.get(t, "/status")), &st); err != nil {
			t.Fatal(err)
		}
		if st.Active == 0 && st.Total >= n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %d of %d clients accepted, %d open; want all, none", waitLimit, st.Total, n, st.Active)
		}
		time.Sleep(20 * time.Millisecond) // polling, bounded by deadline
	}
}

// echo sends msg through front to the echo backend and reads it back.
func echo(t *testing.T, front, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	n, err := io.ReadFull(c, buf)
	if err != nil {
		t.Errorf("read: %v", err)
	}
	return string(buf[:n])
}

// lineLog collects a child's stderr.
type lineLog struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
	return l.buf.Write(p)
}

func (l *lineLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// waitFor waits until the log holds any of subs.
func (l *lineLog) waitFor(t *testing.T, subs ...string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		s := l.String()
		for _, sub := range subs {
			if strings.Contains(s, sub) {
				return
			}
		}
		select {
		case <-l.changed:
		case <-timeout:
			t.Fatalf("none of %q in the child's log within %v:\n%s", subs, waitLimit, s)
		}
	}
}

// TestFDLimitChild is the balancer process of
// TestFDExhaustionNeverBlamesBackend; it skips unless run as that.
func TestFDLimitChild(t *testing.T) {
	engine := os.Getenv(fdChildEngine)
	if engine == "" {
		t.Skip("the child process of TestFDExhaustionNeverBlamesBackend")
	}
	zc := zap.NewProductionConfig()
	zc.Sampling = nil
	log, err := zc.Build()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Mode: ModePassthrough, Engine: engine,
		Backends: []Backend{{Name: "a", Addr: os.Getenv(fdChildBackend)}},
		// Fall 1 and a rise that never comes within the test: one
		// check blamed on the backend would show.
		Health: Health{Interval: 20 * time.Millisecond, Fall: 1, Rise: 1000}}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln, aln := listen(t), listen(t)
	go srv.Serve(context.Background(), ln)
	go srv.ServeAdmin(context.Background(), aln)
	waitServing(t, srv)
	if err := limitFDs(fdHeadroom); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("FDCHILD %s %s\n", ln.Addr(), aln.Addr())
	io.Copy(io.Discard, os.Stdin) // until the parent closes it
}

// waitServing waits until Serve has its listener (and its engine's loops).
func waitServing(t *testing.T, srv *Server) {
	deadline := time.Now().Add(waitLimit)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("Serve did not start")
		}
		time.Sleep(5 * time.Millisecond) // polling, bounded by deadline
	}
}

// limitFDs sets this process's open-file limit to headroom descriptors
// above those open now.
func limitFDs(headroom int) error {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err
	}
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return err
	}
	r.Cur = uint64(len(fds) + headroom)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
}
