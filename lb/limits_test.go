package lb

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// TestIdleTimeout: a connection where nobody sends is closed after
// idle_timeout with the reason logged; one that keeps trickling bytes
// outlives it.
func TestIdleTimeout(t *testing.T) { forEachEngine(t, testIdleTimeout) }

func testIdleTimeout(t *testing.T, engine string) {
	o := newObserved()
	echo := listen(t)
	serve(echo, func(c net.Conn) { io.Copy(c, c) })
	cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: backends(echo), IdleTimeout: 200 * time.Millisecond, Health: Health{Interval: time.Hour}}
	_, front := startLB(t, cfg, nil, o.log)

	silent, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	busy, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// Trickle a byte every 20ms on busy until silent is cut; busy has
	// then lived at least the idle timeout and must still answer.
	cut := make(chan error, 1)
	go func() {
		silent.SetReadDeadline(time.Now().Add(waitLimit))
		_, err := silent.Read(make([]byte, 1))
		cut <- err
	}()
	buf := make([]byte, 1)
	for i := 0; ; i++ {
		select {
		case err := <-cut:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("silent connection: read %v; want EOF", err)
			}
			busy.SetDeadline(time.Now().Add(waitLimit))
			if _, err := busy.Write([]byte("x")); err != nil {
				t.Fatalf("busy connection after the idle one was cut: %v", err)
			}
			if _, err := io.ReadFull(busy, buf); err != nil {
				t.Fatalf("busy connection after the idle one was cut: %v", err)
			}
			checkCloseReason(t, o, "idle timeout")
			return
		case <-time.After(20 * time.Millisecond):
		}
		if i > int(waitLimit/(20*time.Millisecond)) {
			t.Fatal("idle connection never cut")
		}
		busy.SetDeadline(time.Now().Add(waitLimit))
		if _, err := busy.Write([]byte("x")); err != nil {
			t.Fatalf("trickle %d: %v", i, err)
		}
		if _, err := io.ReadFull(busy, buf); err != nil {
			t.Fatalf("trickle %d: %v", i, err)
		}
	}
}

// checkCloseReason waits for a connection log line with close=reason.
func checkCloseReason(t *testing.T, o *observed, reason string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		for _, e := range o.logs.FilterMessage("connection closed").All() {
			if e.ContextMap()["close"] == reason {
				return
			}
		}
		o.waitEvent(t, "connection closed")
	}
	t.Fatalf("no connection closed with close=%q", reason)
}

// TestMaxConnsGlobal: with max_conns 1 a second client waits, unserved,
// until the first leaves, then gets its backend.
func TestMaxConnsGlobal(t *testing.T) { forEachEngine(t, testMaxConnsGlobal) }

func testMaxConnsGlobal(t *testing.T, engine string) {
	cfg := holdCfg(t, engine, BalanceRoundRobin, 1)
	cfg.MaxConns = 1
	_, front := startLB(t, cfg, nil, nil)
	first, _ := hold(t, front, "")
	second, err := net.Dial("tcp", front) // the kernel completes it; the LB does not accept yet
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	// A negative check has to wait some time; 100ms is ample for a
	// balancer that would accept at once.
	second.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("second client while the first is open: read %d bytes, %v; want nothing yet", n, err)
	}
	first.Close()
	second.SetReadDeadline(time.Now().Add(waitLimit))
	if _, err := io.ReadFull(second, make([]byte, 1)); err != nil {
		t.Fatalf("second client after the first left: %v", err)
	}
}
