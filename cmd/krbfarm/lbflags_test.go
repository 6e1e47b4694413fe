package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/krbfarm/krbfarm/lb"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// TestBackendServerName: reencrypt to a backend on 127.0.0.1 whose
// certificate names only sso.example.test works with
// --backend-server-name, which krbfarm lb once lacked ("x509: cannot
// validate certificate for 127.0.0.1"), and fails without it.
func TestBackendServerName(t *testing.T) {
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	ca, err := tlsterm.NewCA(p("ca.pem"), p("ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sso.example.test", "front.example.test"} {
		if err := ca.Issue([]string{name}, p(name+".pem"), p(name+"-key.pem")); err != nil {
			t.Fatal(err)
		}
	}
	backend := tlsEchoBackend(t, p("sso.example.test.pem"), p("sso.example.test-key.pem"))
	args := []string{"--mode", "reencrypt", "--backend", backend, "--backend-ca", p("ca.pem"),
		"--cert", p("front.example.test.pem"), "--key", p("front.example.test-key.pem"), "--health-interval", "1h"}
	client := &tls.Config{RootCAs: ca.CertPool(), ServerName: "front.example.test"}

	front := serveLB(t, args...)
	if err := echoThrough(front, client); err == nil {
		t.Fatal("without --backend-server-name: the echo went through; want the backend's certificate refused for 127.0.0.1")
	}
	front = serveLB(t, append(args, "--backend-server-name", "sso.example.test")...)
	if err := echoThrough(front, client); err != nil {
		t.Fatalf("with --backend-server-name sso.example.test: %v", err)
	}
}

// tlsEchoBackend serves TLS with the given pair on 127.0.0.1 and echoes.
func tlsEchoBackend(t *testing.T, certFile, keyFile string) string {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
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
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// serveLB runs krbfarm lb's configuration from args on 127.0.0.1:0.
func serveLB(t *testing.T, args ...string) string {
	t.Helper()
	c, err := lbFromArgs(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lb.New(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(context.Background(), ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func echoThrough(front string, client *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", front, client)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "ping"); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != "ping" {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// TestRunLBReloadRefused: SIGHUP with a wrong file logs one clean JSON
// line naming the problem, with no Go stack trace (it once was an Error
// line, to which zap's production config adds one), and the server runs
// on.
func TestRunLBReloadRefused(t *testing.T) {
	b := nameServer(t, "b", nil, nil)
	file := filepath.Join(t.TempDir(), "lb.yaml")
	conf := "mode: passthrough\nhealth: {interval: 1h}\nbackends: [{addr: '" + b + "'}]\n"
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := lbOptions{file: file}
	load := func() (lb.Config, error) { return opts.config(newLBCmd().Flags()) }
	c, err := load()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "log.json")
	cfg := loggerConfig(true, zap.InfoLevel)
	cfg.OutputPaths = []string{out}
	warned := make(chan struct{}, 4)
	log, err := cfg.Build(zap.Hooks(func(e zapcore.Entry) error {
		if e.Level >= zapcore.WarnLevel {
			warned <- struct{}{}
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := lb.New(c, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- runLB(ctx, srv, time.Second, load, log) }()
	waitServing(t, srv)

	if err := os.WriteFile(file, []byte(conf+"balanse: source\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	select {
	case <-warned:
	case <-time.After(10 * time.Second):
		t.Fatal("no warning logged after SIGHUP with a wrong file")
	}
	stop()
	if err := <-ran; err != nil {
		t.Errorf("runLB: %v", err)
	}
	log.Sync()
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var refused []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if e["level"] == "warn" || e["level"] == "error" {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 {
		t.Fatalf("got %d warn/error lines; want 1:\n%s", len(refused), data)
	}
	if _, ok := refused[0]["stacktrace"]; ok {
		t.Errorf("the refused reload logged a stack trace:\n%s", data)
	}
	if msg, _ := refused[0]["error"].(string); !strings.Contains(msg, `unknown key "balanse"`) {
		t.Errorf("error %q; want the unknown key named", msg)
	}
}

// waitServing waits, bounded, until srv has its listener.
func waitServing(t *testing.T, srv *lb.Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for srv.Addr() == nil {
		if time.Now().After(deadline) {
			t.Fatal("lb not listening after 10s")
		}
		time.Sleep(5 * time.Millisecond) // polling a readiness condition, bounded
	}
}
