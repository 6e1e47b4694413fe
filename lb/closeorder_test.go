//go:build linux

package lb

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"golang.org/x/sys/unix"
)

// TestNoBackendLineBeforeEOF: a connection's log line is written before
// its client sees the connection end. The epoll engine used to close a
// client socket that no backend took and then log, so a client (or a
// test) that saw EOF and closed the server at once got the line as
// "server closed", or after Close returned (TestAllBackendsDead failed
// once so). The logger's hook probes the client's socket while the line
// is written: EOF there means the order is wrong.
func TestNoBackendLineBeforeEOF(t *testing.T) { forEachEngine(t, testNoBackendLineBeforeEOF) }

func testNoBackendLineBeforeEOF(t *testing.T, engine string) {
	client := make(chan net.Conn, 1)
	probed := make(chan error, 1) // what the client read while the line was written
	hook := func(e zapcore.Entry) error {
		if e.Message != "connection closed" {
			return nil
		}
		select {
		case c := <-client:
			probed <- probe(c)
		case <-time.After(waitLimit):
			probed <- errors.New("no client connection to probe")
		}
		return nil
	}
	dead := listen(t)
	dead.Close()
	core, _ := observer.New(zapcore.DebugLevel)
	log := zap.New(core, zap.Hooks(hook))
	_, front := startLB(t, Config{Backends: backends(dead), Mode: ModePassthrough, Engine: engine}, nil, log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client <- c
	select {
	case err := <-probed:
		if !errors.Is(err, errStillOpen) {
			t.Fatalf("client read while the line was written: %v; want nothing yet (still open)", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("no connection line")
	}
	readEOF(t, c)
}

// probe peeks at c without waiting: errStillOpen while it is open,
// io.EOF once the balancer has closed it.
func probe(c net.Conn) error {
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var rerr error
	err = rc.Control(func(fd uintptr) {
		n, _, rerr = unix.Recvfrom(int(fd), make([]byte, 1), unix.MSG_DONTWAIT|unix.MSG_PEEK)
	})
	switch {
	case err != nil:
		return err
	case errors.Is(rerr, unix.EAGAIN):
		return errStillOpen
	case rerr != nil:
		return rerr
	case n == 0:
		return io.EOF
	}
	return fmt.Errorf("%d unexpected bytes", n)
}

var errStillOpen = errors.New("still open")
