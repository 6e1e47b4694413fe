package lb

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestCloseOnFirstEOF: with close_on_first_eof, a backend that writes a
// banner and half-closes ends the whole connection: the client reads the
// banner then EOF, although it never closed its side, and the backend
// reads EOF, not what the client sends later. The line says "eof".
func TestCloseOnFirstEOF(t *testing.T) { forEachEngine(t, testCloseOnFirstEOF) }

func testCloseOnFirstEOF(t *testing.T, engine string) {
	backendRead := make(chan string, 1)
	be := listen(t)
	serve(be, func(c net.Conn) {
		io.WriteString(c, "banner")
		c.(*net.TCPConn).CloseWrite()
		c.SetReadDeadline(time.Now().Add(waitLimit))
		req, _ := io.ReadAll(c) // EOF: the balancer closed its side
		backendRead <- string(req)
	})
	o := newObserved()
	srv, front := startLB(t, Config{Backends: backends(be), Mode: ModePassthrough, Engine: engine,
		Health: Health{Interval: time.Hour}, CloseOnFirstEOF: true}, nil, o.log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "banner" {
		t.Fatalf("client read: got %q, %v; want %q then EOF", got, err, "banner")
	}
	select {
	case req := <-backendRead:
		if req != "" {
			t.Errorf("backend read %q; want EOF at once", req)
		}
	case <-time.After(waitLimit):
		t.Fatal("backend never saw the connection end")
	}
	o.waitEvent(t, "connection closed")
	srv.Close()
	lines := o.logs.FilterMessage("connection closed").All()
	if len(lines) != 1 {
		t.Fatalf("got %d connection lines; want 1", len(lines))
	}
	if got := lines[0].ContextMap()["close"]; got != "eof" {
		t.Errorf("close: got %v; want eof", got)
	}
}
