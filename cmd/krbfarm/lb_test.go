package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/krbfarm/krbfarm/lb"
)

// nameServer answers each connection with its name once the client has
// half-closed, after saying so on arrived (for a non-empty request) and waiting for release to
// close (each if not nil).
func nameServer(t *testing.T, name string, arrived chan<- struct{}, release <-chan struct{}) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, _ := io.ReadAll(c)
				if arrived != nil && len(req) > 0 { // not a health check
					arrived <- struct{}{}
				}
				if release != nil {
					<-release
				}
				io.WriteString(c, name)
			}()
		}
	}()
	return ln.Addr().String()
}

// logEvents is a logger that sends each message on the channel returned.
func logEvents() (*zap.Logger, <-chan string) {
	ch := make(chan string, 256)
	log := zap.New(observerCore(), zap.Hooks(func(e zapcore.Entry) error {
		select {
		case ch <- e.Message:
		default:
		}
		return nil
	}))
	return log, ch
}

func observerCore() zapcore.Core {
	core, _ := observer.New(zapcore.DebugLevel)
	return core
}

func waitLog(t *testing.T, ch <-chan string, msg string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no %q log line", msg)
		}
	}
}

// TestRunLBReloadAndDrain: SIGHUP re-reads the config file and moves new
// connections to the new backend while one in flight on the old one
// carries on; ending the context (SIGTERM in main) drains it: its answer
// arrives and runLB returns nil.
func TestRunLBReloadAndDrain(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	a, b := nameServer(t, "a", arrived, release), nameServer(t, "b", nil, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	front := ln.Addr().String()
	ln.Close() // runLB listens itself; the port is free again at once on loopback
	file := filepath.Join(t.TempDir(), "lb.yaml")
	write := func(backend string) {
		conf := fmt.Sprintf("listen: %s\nmode: passthrough\nhealth: {interval: 1h}\nbackends:\n  - {name: x, addr: %q}\n", front, backend)
		if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	opts := lbOptions{file: file}
	load := func() (lb.Config, error) { return opts.config(pflag.NewFlagSet("lb", pflag.ContinueOnError)) }
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	log, events := logEvents()
	srv, err := lb.New(c, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- runLB(ctx, srv, 10*time.Second, load, log) }()
	waitLog(t, events, "listening")

	inFlight, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer inFlight.Close()
	io.WriteString(inFlight, "req")
	inFlight.(*net.TCPConn).CloseWrite() // a's answer waits for release
	<-arrived                            // bounded by the test timeout

	write(b)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	waitLog(t, events, "configuration reloaded")
	if got := ask(t, front); got != "b" {
		t.Errorf("after SIGHUP: got %q; want b", got)
	}

	stop() // what SIGTERM does in main
	waitLog(t, events, "draining")
	close(release)
	inFlight.SetReadDeadline(time.Now().Add(10 * time.Second))
	if got, err := io.ReadAll(inFlight); err != nil || string(got) != "a" {
		t.Errorf("in-flight answer across reload and drain: got %q, %v; want a", got, err)
	}
	if err := <-ran; err != nil {
		t.Errorf("runLB: %v; want nil after a clean drain", err)
	}
}

func ask(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	return string(got)
}
