package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	tlsterm "github.com/krbfarm/krbfarm/tls"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// waitLimit bounds every wait in these tests; reaching it is a failure,
// never the expected path.
const waitLimit = 10 * time.Second

func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serve runs handler for every connection ln accepts, until ln closes.
func serve(ln net.Listener, handler func(net.Conn)) {
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handler(c)
			}()
		}
	}()
}

// nameHandler reads the whole request, then answers "name:request": the
// reply comes after the client's EOF, so every use also checks half-close.
func nameHandler(name string) func(net.Conn) {
	return func(c net.Conn) {
		req, err := io.ReadAll(c)
		if err != nil {
			return
		}
		io.WriteString(c, name+":"+string(req))
	}
}

// nameBackend starts a backend that answers with its name.
func nameBackend(t testing.TB, name string) net.Listener {
	ln := listen(t)
	serve(ln, nameHandler(name))
	return ln
}

// startLB serves a balancer on 127.0.0.1:0 and closes it when the test
// ends, checking that Serve then returned nil. It returns the front door's
// address: srv.Addr() is only set once the Serve goroutine runs.
func startLB(t testing.TB, cfg Config, tlsConf *tls.Config, log *zap.Logger) (*Server, string) {
	t.Helper()
	srv, err := New(cfg, tlsConf, log)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		srv.Close()
		// ErrServerClosed: the test closed srv before Serve even ran.
		if err := <-served; err != nil && !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v; want nil after Close", err)
		}
	})
	return srv, ln.Addr().String()
}

func backends(lns ...net.Listener) []Backend {
	var out []Backend
	for i, ln := range lns {
		out = append(out, Backend{Name: string(rune('a' + i)), Addr: ln.Addr().String()})
	}
	return out
}

// roundTrip sends msg, half-closes, and returns everything read back.
func roundTrip(t testing.TB, addr, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	return exchange(t, c, msg)
}

// exchange writes msg, half-closes c and reads to EOF, with waitLimit.
func exchange(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, got)
	}
	return string(got)
}

// observed is a logger whose entries tests can read, and whose messages
// are also sent on events (dropped when nobody listens).
type observed struct {
	log    *zap.Logger
	logs   *observer.ObservedLogs
	events chan string
}

func newObserved() *observed {
	core, logs := observer.New(zapcore.DebugLevel)
	o := &observed{logs: logs, events: make(chan string, 64)}
	o.log = zap.New(core, zap.Hooks(func(e zapcore.Entry) error {
		select {
		case o.events <- e.Message:
		default:
		}
		return nil
	}))
	return o
}

// waitEvent waits until a log line with message msg is written.
func (o *observed) waitEvent(t *testing.T, msg string) {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case m := <-o.events:
			if m == msg {
				return
			}
		case <-timeout:
			t.Fatalf("no %q log line within %v", msg, waitLimit)
		}
	}
}

type labCerts struct {
	ca                 *tlsterm.CA
	caFile             string
	certFile, keyFile  string
	serverConf, client *tls.Config
}

const ssoName = "sso.krbfarm.localhost"

func newLabCerts(t testing.TB) labCerts {
	t.Helper()
	dir := t.TempDir()
	ca, err := tlsterm.NewCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	l := labCerts{ca: ca, caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "sso.pem"), keyFile: filepath.Join(dir, "sso-key.pem")}
	if err := ca.Issue([]string{ssoName, "127.0.0.1"}, l.certFile, l.keyFile); err != nil {
		t.Fatal(err)
	}
	cert, err := tlsterm.LoadKeyPair(l.certFile, l.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	l.serverConf = tlsterm.ServerConfig(cert)
	l.client = &tls.Config{RootCAs: ca.CertPool(), ServerName: ssoName}
	return l
}

// readEOF waits for the peer to close c and fails on anything else.
func readEOF(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	n, err := c.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read: got %d bytes, %v; want EOF", n, err)
	}
}

// engines are the relay engines passthrough tests run with: the event
// loops where they run, and goroutines everywhere.
func engines() []string {
	if epollSupported {
		return []string{EngineEpoll, EngineGoroutine}
	}
	return []string{EngineGoroutine}
}

// forEachEngine runs f as a subtest (or sub-benchmark) per engine.
func forEachEngine[T interface {
	testing.TB
	Run(string, func(T)) bool
}](t T, f func(t T, engine string)) {
	for _, e := range engines() {
		t.Run(e, func(t T) { f(t, e) })
	}
}
