package lb

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestRoundRobin(t *testing.T) { forEachEngine(t, testRoundRobin) }

func testRoundRobin(t *testing.T, engine string) {
	o := newObserved()
	bs := backends(nameBackend(t, "a"), nameBackend(t, "b"), nameBackend(t, "c"))
	srv, front := startLB(t, Config{Backends: bs, Mode: ModePassthrough, Engine: engine}, nil, o.log)
	var got []string
	for range 6 {
		got = append(got, roundTrip(t, front, "hi"))
	}
	want := []string{"a:hi", "b:hi", "c:hi", "a:hi", "b:hi", "c:hi"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("replies: got %q; want %q", got, want)
	}
	srv.Close() // waits for the connections' ends and log lines
	for _, st := range srv.Status() {
		if st.Total != 2 || !st.Healthy || st.Active != 0 {
			t.Errorf("status %s: got %+v; want 2 total, healthy, 0 active", st.Name, st)
		}
	}
	checkConnLogs(t, o, 6, map[string]any{"bytes_in": int64(2), "bytes_out": int64(4), "close": "eof"})
}

// checkConnLogs checks there are n "connection closed" lines, each with
// the stable keys and the wanted values.
func checkConnLogs(t *testing.T, o *observed, n int, want map[string]any) {
	t.Helper()
	lines := o.logs.FilterMessage("connection closed").All()
	if len(lines) != n {
		t.Fatalf("got %d connection log lines; want %d", len(lines), n)
	}
	for _, l := range lines {
		fields := l.ContextMap()
		for _, key := range []string{"remote", "upstream", "bytes_in", "bytes_out", "duration", "close"} {
			if _, ok := fields[key]; !ok {
				t.Errorf("log line %v: no %q", fields, key)
			}
		}
		for k, v := range want {
			if fields[k] != v {
				t.Errorf("log line field %s: got %v; want %v", k, fields[k], v)
			}
		}
		if l.Level != zapcore.InfoLevel {
			t.Errorf("log level: got %v; want info", l.Level)
		}
	}
}

func TestSkipDeadBackend(t *testing.T) { forEachEngine(t, testSkipDeadBackend) }

func testSkipDeadBackend(t *testing.T, engine string) {
	o := newObserved()
	dead := listen(t)
	dead.Close() // its port now refuses connections
	bs := backends(nameBackend(t, "a"), dead, nameBackend(t, "c"))
	srv, front := startLB(t, Config{Backends: bs, Mode: ModePassthrough, Engine: engine}, nil, o.log)
	for i := range 6 {
		got := roundTrip(t, front, "x")
		if got != "a:x" && got != "c:x" {
			t.Fatalf("connection %d: got %q; want a reply from a or c", i, got)
		}
	}
	st := srv.Status()[1]
	if st.Healthy || st.Failures == 0 || st.Total != 0 {
		t.Errorf("dead backend status: got %+v; want down with failures", st)
	}
	srv.Close()
	if n := o.logs.FilterFieldKey("close").Filter(func(e observer.LoggedEntry) bool { return e.ContextMap()["close"] == "no backend" }).Len(); n != 0 {
		t.Errorf("got %d no-backend lines; want 0", n)
	}
}

func TestAllBackendsDead(t *testing.T) { forEachEngine(t, testAllBackendsDead) }

func testAllBackendsDead(t *testing.T, engine string) {
	o := newObserved()
	dead1, dead2 := listen(t), listen(t)
	dead1.Close()
	dead2.Close()
	srv, front := startLB(t, Config{Backends: backends(dead1, dead2), Mode: ModePassthrough, Engine: engine}, nil, o.log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readEOF(t, c)
	// The line is written before the client's socket is closed (see
	// TestNoBackendLineBeforeEOF), so Close, right after the EOF, cannot
	// turn it into a "server closed" line.
	srv.Close()
	warns := o.logs.FilterLevelExact(zapcore.WarnLevel).FilterMessage("connection closed").All()
	if len(warns) != 1 {
		t.Fatalf("got %d no-backend warnings; want exactly 1", len(warns))
	}
	if got := warns[0].ContextMap()["close"]; got != "no backend" {
		t.Errorf("close: got %v; want %q", got, "no backend")
	}
}

// TestHalfClose: the client shuts down its write side; the backend sees
// EOF, still replies, and the client reads the reply, then EOF.
func TestHalfClose(t *testing.T) { forEachEngine(t, testHalfClose) }

func testHalfClose(t *testing.T, engine string) {
	backendEOF := make(chan string, 1)
	be := listen(t)
	serve(be, func(c net.Conn) {
		req, err := io.ReadAll(c) // returns at the client's EOF
		if err != nil {
			t.Errorf("backend read: %v", err)
		}
		if len(req) == 0 {
			return // a health check
		}
		backendEOF <- string(req)
		io.WriteString(c, "reply after EOF")
	})
	_, front := startLB(t, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, nil)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "request")
	c.(*net.TCPConn).CloseWrite()
	select {
	case req := <-backendEOF:
		if req != "request" {
			t.Fatalf("backend got %q; want %q", req, "request")
		}
	case <-time.After(waitLimit):
		t.Fatal("backend never saw EOF")
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "reply after EOF" {
		t.Fatalf("client read: got %q, %v; want %q then EOF", got, err, "reply after EOF")
	}
}

// TestHalfCloseBackendFirst: the backend half-closes first and still
// receives what the client sends afterwards.
func TestHalfCloseBackendFirst(t *testing.T) { forEachEngine(t, testHalfCloseBackendFirst) }

func testHalfCloseBackendFirst(t *testing.T, engine string) {
	late := make(chan string, 1)
	be := listen(t)
	serve(be, func(c net.Conn) {
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		req, _ := io.ReadAll(c)
		if len(req) > 0 { // health checks send nothing
			late <- string(req)
		}
	})
	_, front := startLB(t, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, nil)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if got, err := io.ReadAll(c); err != nil || string(got) != "banner" {
		t.Fatalf("client read: got %q, %v; want %q then EOF", got, err, "banner")
	}
	io.WriteString(c, "after")
	c.(*net.TCPConn).CloseWrite()
	select {
	case got := <-late:
		if got != "after" {
			t.Fatalf("backend got %q; want %q", got, "after")
		}
	case <-time.After(waitLimit):
		t.Fatal("backend never got the late bytes")
	}
}

// TestHalfCloseTimeout: once the client has half-closed, a backend that
// neither answers nor closes is cut after HalfCloseTimeout.
func TestHalfCloseTimeout(t *testing.T) { forEachEngine(t, testHalfCloseTimeout) }

func testHalfCloseTimeout(t *testing.T, engine string) {
	o := newObserved()
	hold := make(chan struct{})
	defer close(hold)
	be := listen(t)
	serve(be, func(c net.Conn) { io.ReadAll(c); <-hold })
	cfg := Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, HalfCloseTimeout: 50 * time.Millisecond, Health: Health{Interval: time.Hour}}
	srv, front := startLB(t, cfg, nil, o.log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).CloseWrite()
	readEOF(t, c)
	srv.Close()
	checkConnLogs(t, o, 1, map[string]any{"close": "half-close timeout", "upstream": "a"})
}

// TestCloseCutsConnections: Close ends proxied connections at once.
func TestCloseCutsConnections(t *testing.T) { forEachEngine(t, testCloseCutsConnections) }

func testCloseCutsConnections(t *testing.T, engine string) {
	o := newObserved()
	hold := make(chan struct{})
	defer close(hold)
	accepted := make(chan struct{}, 1)
	be := listen(t)
	serve(be, func(c net.Conn) {
		if _, err := c.Read(make([]byte, 1)); err == nil { // not a health check
			accepted <- struct{}{}
			<-hold
		}
	})
	srv, front := startLB(t, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine, Health: Health{Interval: time.Hour}}, nil, o.log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "x")
	<-accepted
	if got := srv.Status()[0].Active; got != 1 {
		t.Errorf("active: got %d; want 1", got)
	}
	srv.Close()
	readEOF(t, c)
	checkConnLogs(t, o, 1, map[string]any{"close": "server closed"})
}

// TestPassthroughKeepsRawTCP: in passthrough both ends reach proxyCopy as
// *net.TCPConn, which is what lets io.Copy use splice(2).
func TestPassthroughKeepsRawTCP(t *testing.T) {
	be := nameBackend(t, "a")
	srv, err := New(Config{Backends: backends(be), Mode: ModePassthrough}, nil, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ln := listen(t)
	go func() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			defer c.Close()
			io.ReadAll(c)
		}
	}()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client, err := srv.clientSide(t.Context(), conn)
	if _, ok := client.(*net.TCPConn); !ok || err != nil {
		t.Fatalf("client side: got %T, %v; want *net.TCPConn", client, err)
	}
	up, u, err := srv.pool.connect(t.Context(), conn.RemoteAddr(), conn.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.pool.release(u, 0, 0)
	defer up.Close()
	if _, ok := up.(*net.TCPConn); !ok {
		t.Fatalf("backend side: got %T; want *net.TCPConn", up)
	}
}
