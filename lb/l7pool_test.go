package lb

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// connBoundBackend is an HTTP backend that, like http.sys with
// authPersistNonNTLM, remembers per TCP connection who logged on
// ("Authorization: user") and answers every later request on that
// connection as them, token or not. It records each connection that
// carried a request (health checks' connections carry none).
type connBoundBackend struct {
	mu    sync.Mutex
	conns map[string]bool // remote addresses, one per TCP connection
}

type connUserKey struct{}

func (b *connBoundBackend) start(t *testing.T) net.Listener {
	ln := listen(t)
	b.conns = map[string]bool{}
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connUserKey{}, new(string))
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b.mu.Lock()
			b.conns[r.RemoteAddr] = true
			b.mu.Unlock()
			user := r.Context().Value(connUserKey{}).(*string)
			if a := r.Header.Get("Authorization"); a != "" {
				*user = a
			}
			if *user == "" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			io.WriteString(w, *user)
		}),
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln
}

func (b *connBoundBackend) connections() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.conns))
}

// get sends one request on a new TLS connection to the front door, as a
// separate client does, with authorization as its Authorization header
// ("" = none), and returns the status and body.
func get(t *testing.T, front string, conf *tls.Config, authorization string) (int, string) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: waitLimit}).DialContext(ctx, "tcp", front)
		}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodGet, "https://"+ssoName+"/", nil)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: waitLimit}).Do(req)
	if err != nil {
		t.Fatalf("GET through the balancer: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestL7PoolSharesBackendConnection: two clients, each on its own TLS
// connection, reach the backend over one pooled TCP connection; the
// second, sending no credentials, is answered as the first. In terminate
// mode (L4) each client has its own backend connection and is challenged.
func TestL7PoolSharesBackendConnection(t *testing.T) {
	certs := newLabCerts(t)
	for _, tt := range []struct {
		mode      string
		wantConns int
		wantBob   string // what the client without credentials gets
	}{
		{ModeL7Pool, 1, "200 alice"},
		{ModeTerminate, 2, "401"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			var be connBoundBackend
			_, front := startLB(t, Config{Mode: tt.mode, Backends: backends(be.start(t))}, certs.serverConf, nil)
			if code, body := get(t, front, certs.client, "alice"); code != 200 || body != "alice" {
				t.Fatalf("alice: got %d %q; want 200 \"alice\"", code, body)
			}
			code, body := get(t, front, certs.client, "")
			if got := strings.TrimSpace(fmt.Sprintf("%d %s", code, body)); got != tt.wantBob {
				t.Errorf("second client without credentials: got %q; want %q", got, tt.wantBob)
			}
			if got := be.connections(); len(got) != tt.wantConns {
				t.Errorf("backend saw %d TCP connections %v; want %d", len(got), got, tt.wantConns)
			}
		})
	}
}

// TestL7PoolReloadSwitch: Reload swaps terminate and l7-pooling without a
// restart; leaving l7-pooling closes the pooled, logged-on connections, so
// a client without credentials is challenged again. Other modes refuse.
func TestL7PoolReloadSwitch(t *testing.T) {
	certs := newLabCerts(t)
	var be connBoundBackend
	cfg := Config{Backends: backends(be.start(t))}
	srv, front := startLB(t, cfg, certs.serverConf, nil)
	step := func(mode, want string) {
		t.Helper()
		cfg.Mode = mode
		if err := srv.Reload(cfg); err != nil {
			t.Fatalf("Reload to %s: %v", mode, err)
		}
		if got := srv.FullStatus().Mode; got != mode {
			t.Fatalf("status mode %q; want %q", got, mode)
		}
		get(t, front, certs.client, "alice")
		code, body := get(t, front, certs.client, "")
		if got := strings.TrimSpace(fmt.Sprintf("%d %s", code, body)); got != want {
			t.Errorf("%s: second client without credentials: got %q; want %q", mode, got, want)
		}
	}
	step(ModeL7Pool, "200 alice")
	step(ModeTerminate, "401")
	cfg.Mode = ModeReencrypt
	if err := srv.Reload(cfg); err == nil || !strings.Contains(err.Error(), "mode") {
		t.Errorf("Reload to reencrypt: got %v; want an error naming mode", err)
	}
}

func TestL7PoolRefusesProxyProtocol(t *testing.T) {
	c := Config{Mode: ModeL7Pool, ProxyProtocol: ProxyV1, Backends: []Backend{{Addr: "127.0.0.1:1"}}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "proxy_protocol") {
		t.Errorf("Validate: got %v; want an error naming proxy_protocol", err)
	}
}
