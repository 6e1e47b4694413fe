package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lb"
)

// TestLBLogsEveryConnection checks docs/lb.md's promise with the logger
// `krbfarm lb` builds: N connections give N "connection closed" lines.
// zap's production sampling (100 a second, then 1 in 100) kept 1,342 lines
// of 15,988 connections.
func TestLBLogsEveryConnection(t *testing.T) {
	const n = 400 // more than sampling's first 100 a second
	out := filepath.Join(t.TempDir(), "lb.log")
	cfg := loggerConfig(true, zap.InfoLevel)
	cfg.OutputPaths, cfg.ErrorOutputPaths = []string{out}, []string{out}
	log, err := cfg.Build()
	if err != nil {
		t.Fatal(err)
	}
	be, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	go func() {
		for {
			c, err := be.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	srv, front := startLogLB(t, be.Addr().String(), log)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n / 8 {
				if err := pingOnce(front); err != nil {
					t.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	srv.Close() // waits for every connection's line
	log.Sync()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Count(b, []byte(`"msg":"connection closed"`)); got != n {
		t.Errorf("%d connections gave %d \"connection closed\" lines; want %d", n, got, n)
	}
}

// startLogLB serves a passthrough balancer to backend, closed by the end
// of the test if not before.
func startLogLB(t *testing.T, backend string, log *zap.Logger) (*lb.Server, string) {
	srv, err := lb.New(lb.Config{Mode: lb.ModePassthrough, Backends: []lb.Backend{{Name: "a", Addr: backend}},
		Health: lb.Health{Interval: time.Hour}}, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-served; err != nil && !errors.Is(err, lb.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv, ln.Addr().String()
}

// pingOnce sends a byte through front, reads it back and hangs up once
// the balancer has closed its side, so the connection's line is written.
func pingOnce(front string) error {
	c, err := net.Dial("tcp", front)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := []byte{'x'}
	if _, err := c.Write(buf); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	c.(*net.TCPConn).CloseWrite()
	_, err = io.Copy(io.Discard, c) // EOF: the balancer ended the relay
	return err
}
