package lb

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"
)

// TestNoKeepAlive: neither the client sockets Listen accepts nor the
// backend sockets the server dials have TCP keepalive probes on (Go's
// default would turn them on); the idle timeout ends silent connections.
func TestNoKeepAlive(t *testing.T) {
	ln, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Backends: backends(ln), Mode: ModePassthrough, Engine: EngineGoroutine, Health: Health{Interval: time.Hour}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dialed, err := s.dialer.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	for name, c := range map[string]net.Conn{"accepted": accepted, "dialed": dialed} {
		if on := keepAlive(t, c); on != 0 {
			t.Errorf("%s socket: SO_KEEPALIVE = %d; want 0", name, on)
		}
	}
}

func keepAlive(t *testing.T, c net.Conn) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var on int
	var gerr error
	if err := raw.Control(func(fd uintptr) {
		on, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
	}); err != nil {
		t.Fatal(err)
	}
	if gerr != nil {
		t.Fatal(gerr)
	}
	return on
}
