package lb

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
)

// TestTerminate: the client verifies the lab CA's certificate at the
// balancer, and the backend receives plaintext.
func TestTerminate(t *testing.T) {
	certs := newLabCerts(t)
	tests := []struct {
		name    string
		cfg     Config
		tlsConf bool
	}{
		{"tls config passed to New", Config{}, true},
		{"cert and key files in config", Config{CertFile: certs.certFile, KeyFile: certs.keyFile}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.Backends = backends(nameBackend(t, "a"))
			var conf *tls.Config
			if tt.tlsConf {
				conf = certs.serverConf
			}
			_, front := startLB(t, cfg, conf, nil)
			c, err := tls.Dial("tcp", front, certs.client)
			if err != nil {
				t.Fatalf("TLS dial: %v", err)
			}
			defer c.Close()
			// The reply echoes what the backend read: plaintext.
			if got, want := exchange(t, c, "hello"), "a:hello"; got != want {
				t.Fatalf("reply: got %q; want %q", got, want)
			}
		})
	}
}

func TestTerminateWrongName(t *testing.T) {
	certs := newLabCerts(t)
	_, front := startLB(t, Config{Backends: backends(nameBackend(t, "a"))}, certs.serverConf, nil)
	conf := certs.client.Clone()
	conf.ServerName = "other.krbfarm.localhost"
	if c, err := tls.Dial("tcp", front, conf); err == nil {
		c.Close()
		t.Fatal("TLS dial with a name the certificate lacks: got nil error")
	}
}

// TestPassthroughTLS: the backend terminates TLS; the balancer forwards
// the stream untouched, so the client verifies the backend's certificate.
func TestPassthroughTLS(t *testing.T) {
	certs := newLabCerts(t)
	be := listen(t)
	serve(tls.NewListener(be, certs.serverConf), nameHandler("tls-a"))
	_, front := startLB(t, Config{Backends: backends(be), Mode: ModePassthrough}, nil, nil)
	c, err := tls.Dial("tcp", front, certs.client)
	if err != nil {
		t.Fatalf("TLS dial through passthrough: %v", err)
	}
	defer c.Close()
	if got, want := exchange(t, c, "hello"), "tls-a:hello"; got != want {
		t.Fatalf("reply: got %q; want %q", got, want)
	}
}

// TestHandshakeTimeout: a client that connects and never says a word is
// cut after HandshakeTimeout, and no backend is dialled for it.
func TestHandshakeTimeout(t *testing.T) {
	certs := newLabCerts(t)
	o := newObserved()
	cfg := Config{Backends: backends(nameBackend(t, "a")), HandshakeTimeout: 50 * time.Millisecond}
	srv, front := startLB(t, cfg, certs.serverConf, o.log)
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readEOF(t, c)
	srv.Close()
	if got := srv.Status()[0].Total; got != 0 {
		t.Errorf("backend connections: got %d; want 0 (dial only after the handshake)", got)
	}
	lines := o.logs.FilterMessage("connection closed").All()
	if len(lines) != 1 || lines[0].ContextMap()["close"] != "handshake timeout" || lines[0].Level != zapcore.InfoLevel {
		t.Fatalf("log lines: got %v; want one info line with close=handshake timeout", lines)
	}
}

// TestTerminateBackendHalfClose: a backend that replies and closes ends
// the client's TLS stream cleanly (close_notify, then EOF).
func TestTerminateBackendHalfClose(t *testing.T) {
	certs := newLabCerts(t)
	be := listen(t)
	serve(be, func(c net.Conn) { io.WriteString(c, "bye") })
	_, front := startLB(t, Config{Backends: backends(be)}, certs.serverConf, nil)
	c, err := tls.Dial("tcp", front, certs.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye" {
		t.Fatalf("read: got %q, %v; want %q then EOF", got, err, "bye")
	}
}

// TestTerminateIdleTimeout: in terminate mode too, a TLS connection where
// nobody sends after the handshake is cut after idle_timeout (the
// handshake's bytes do not keep it alive), with the reason logged.
func TestTerminateIdleTimeout(t *testing.T) {
	certs := newLabCerts(t)
	o := newObserved()
	echo := listen(t)
	serve(echo, func(c net.Conn) { io.Copy(c, c) })
	cfg := Config{Backends: backends(echo), IdleTimeout: 200 * time.Millisecond, Health: Health{Interval: time.Hour}}
	_, front := startLB(t, cfg, certs.serverConf, o.log)
	c, err := tls.Dial("tcp", front, certs.client)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, "x"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if n, err := c.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("silent connection: read %d bytes, %v; want EOF", n, err)
	}
	checkCloseReason(t, o, "idle timeout")
}
