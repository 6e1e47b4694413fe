package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gatedBackend reads a request up to EOF, tells got, and answers only once
// release is closed.
func gatedBackend(t *testing.T, got chan<- string, release <-chan struct{}) net.Listener {
	ln := listen(t)
	serve(ln, func(c net.Conn) {
		req, _ := io.ReadAll(c)
		got <- string(req)
		<-release
		io.WriteString(c, "done:"+string(req))
	})
	return ln
}

// TestShutdownDrains: a request in flight when Shutdown starts gets its
// whole answer; new clients are refused; Shutdown returns nil once it is
// over, and Serve returns nil.
func TestShutdownDrains(t *testing.T) { forEachEngine(t, testShutdownDrains) }

func testShutdownDrains(t *testing.T, engine string) {
	got, release := make(chan string, 1), make(chan struct{})
	be := gatedBackend(t, got, release)
	srv, err := New(Config{Mode: ModePassthrough, Engine: engine, Backends: backends(be), Health: Health{Interval: time.Hour}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "req")
	c.(*net.TCPConn).CloseWrite()
	for r := ""; r != "req"; r = <-got { // health checks send nothing
	} // the request is at the backend: in flight

	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		shut <- srv.Shutdown(ctx)
	}()
	if err := <-served; err != nil {
		t.Errorf("Serve after Shutdown: %v; want nil", err)
	}
	if c2, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c2.Close()
		t.Error("a new client connected while draining; want refused")
	}
	close(release)
	c.SetReadDeadline(time.Now().Add(waitLimit))
	if reply, err := io.ReadAll(c); err != nil || string(reply) != "done:req" {
		t.Errorf("in-flight reply: got %q, %v; want done:req", reply, err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v; want nil", err)
	}
}

// TestShutdownDeadline: a connection that outlives the drain deadline is
// cut and Shutdown says so.
func TestShutdownDeadline(t *testing.T) { forEachEngine(t, testShutdownDeadline) }

func testShutdownDeadline(t *testing.T, engine string) {
	srv, front := startLB(t, holdCfg(t, engine, "", 1), nil, nil)
	c, _ := hold(t, front, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v; want DeadlineExceeded", err)
	}
	readEOF(t, c)
}

// TestReloadBackends: connections open on a removed backend keep working;
// new ones follow the new list and weights; kept backends keep counters.
func TestReloadBackends(t *testing.T) { forEachEngine(t, testReloadBackends) }

func testReloadBackends(t *testing.T, engine string) {
	a, b, c := holdBackend(t, "a"), holdBackend(t, "b"), holdBackend(t, "c")
	cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: backends(a, b), Health: Health{Interval: time.Hour}}
	srv, front := startLB(t, cfg, nil, nil)
	onA, name := hold(t, front, "")
	if name != "a" {
		t.Fatalf("first connection went to %s; want a", name)
	}
	next := cfg
	next.Backends = []Backend{{Name: "b", Addr: b.Addr().String(), Weight: 1}, {Name: "c", Addr: c.Addr().String(), Weight: 3}}
	if err := srv.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	var names string
	for range 8 {
		conn, name := hold(t, front, "")
		conn.Close()
		names += name
	}
	if countNames(names) != "2b6c" {
		t.Errorf("after reload: got %q; want b and c in 1:3", names)
	}
	// The connection to a, gone from the configuration, is still proxied.
	onA.SetDeadline(time.Now().Add(waitLimit))
	if _, err := onA.Write([]byte("still here")); err != nil {
		t.Errorf("write on the connection to the removed backend: %v", err)
	}
	st := srv.Status()
	if len(st) != 2 || st[0].Name != "b" || st[0].Total != 2 {
		t.Errorf("status after reload: got %+v; want b (kept, 2 connections) then c", st)
	}
}

func TestReloadRefusesFixedFields(t *testing.T) {
	be := nameBackend(t, "a")
	cfg := Config{Mode: ModePassthrough, Backends: backends(be), Health: Health{Interval: time.Hour}}
	srv, _ := startLB(t, cfg, nil, nil)
	for field, change := range map[string]func(*Config){
		"mode":         func(c *Config) { c.Mode = ModeTerminate; c.CertFile, c.KeyFile = "x", "y" },
		"idle_timeout": func(c *Config) { c.IdleTimeout = time.Second },
		"listen":       func(c *Config) { c.Listen = "127.0.0.1:1" },
	} {
		next := cfg
		change(&next)
		if err := srv.Reload(next); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("changing %s: got %v; want an error naming it", field, err)
		}
	}
	bad := cfg
	bad.Backends = nil
	if err := srv.Reload(bad); err == nil || !strings.Contains(err.Error(), "backends") {
		t.Errorf("no backends: got %v; want a backends error", err)
	}
}

// TestReloadCertificates: after the files change and Reload runs, new
// handshakes get the new certificate; a TLS connection made before keeps
// working.
func TestReloadCertificates(t *testing.T) {
	lc := newLabCerts(t)
	echo := listen(t)
	serve(echo, func(c net.Conn) { io.Copy(c, c) })
	cfg := Config{Backends: backends(echo), CertFile: lc.certFile, KeyFile: lc.keyFile, Health: Health{Interval: time.Hour}}
	srv, front := startLB(t, cfg, nil, nil)
	before, err := tls.Dial("tcp", front, lc.client)
	if err != nil {
		t.Fatal(err)
	}
	defer before.Close()
	oldSerial := before.ConnectionState().PeerCertificates[0].SerialNumber

	dir := t.TempDir()
	next := cfg
	next.CertFile, next.KeyFile = filepath.Join(dir, "new.pem"), filepath.Join(dir, "new-key.pem")
	if err := lc.ca.Issue([]string{ssoName}, next.CertFile, next.KeyFile); err != nil {
		t.Fatal(err)
	}
	if err := srv.Reload(next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	after, err := tls.Dial("tcp", front, lc.client)
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if after.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
		t.Error("a handshake after Reload got the old certificate")
	}
	for _, c := range []*tls.Conn{before, after} {
		c.SetDeadline(time.Now().Add(waitLimit))
		io.WriteString(c, "ping")
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
			t.Errorf("echo: got %q, %v", buf, err)
		}
	}
}
