package lb

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/krbfarm/krbfarm/internal/config"
)

func TestValidate(t *testing.T) {
	ok := []Backend{{Addr: "127.0.0.1:8081"}}
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" = valid
	}{
		{"minimal", Config{Backends: ok}, ""},
		{"full", Config{Listen: ":8443", Backends: ok, Mode: ModePassthrough, DialTimeout: time.Second}, ""},
		{"no backends", Config{}, "backends"},
		{"empty addr", Config{Backends: []Backend{{Name: "x"}}}, "backends[0].addr"},
		{"addr without port", Config{Backends: []Backend{{Addr: "web1"}}}, "backends[0].addr"},
		{"bad port", Config{Backends: []Backend{{Addr: "web1:http"}}}, "backends[0].addr"},
		{"port 0", Config{Backends: []Backend{{Addr: "web1:0"}}}, "backends[0].addr"},
		{"duplicate name", Config{Backends: []Backend{{Name: "a", Addr: "h:1"}, {Name: "a", Addr: "h:2"}}}, "backends[1].name"},
		{"duplicate addr", Config{Backends: []Backend{{Addr: "h:1"}, {Addr: "h:1"}}}, "backends[1].name"},
		{"bad listen", Config{Listen: "8443", Backends: ok}, "listen"},
		{"bad mode", Config{Backends: ok, Mode: "http"}, "mode"},
		{"negative dial", Config{Backends: ok, DialTimeout: -1}, "dial_timeout"},
		{"negative interval", Config{Backends: ok, Health: Health{Interval: -1}}, "health.interval"},
		{"negative half-close", Config{Backends: ok, HalfCloseTimeout: -1}, "half_close_timeout"},
		{"cert without key", Config{Backends: ok, CertFile: "c.pem"}, "key: set both cert and key"},
		{"listen port 0", Config{Listen: "127.0.0.1:0", Backends: ok}, ""},
		{"listen any, port 0", Config{Listen: ":0", Backends: ok}, ""},
		{"bad engine", Config{Backends: ok, Engine: "io_uring"}, "engine"},
		{"epoll with TLS", Config{Backends: ok, Engine: EngineEpoll}, "engine"},
		{"goroutine engine", Config{Backends: ok, Mode: ModePassthrough, Engine: EngineGoroutine}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v; want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
listen: 127.0.0.1:8443
mode: passthrough
dial_timeout: 2s
half_close_timeout: 1m
backends:
  - {name: web1, addr: "127.0.0.1:8081"}
  - {addr: "127.0.0.1:8082"}
`
	var cfg Config
	if err := yaml.Unmarshal([]byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	got := cfg.withDefaults()
	if got.DialTimeout != 2*time.Second || got.HalfCloseTimeout != time.Minute || got.Health.Interval != DefaultHealthInterval {
		t.Errorf("durations: got %v, %v, %v", got.DialTimeout, got.HalfCloseTimeout, got.Health.Interval)
	}
	if got.Backends[1].Name != "127.0.0.1:8082" || cfg.Backends[1].Name != "" {
		t.Errorf("default name: got %q (input now %q); want the addr, input untouched", got.Backends[1].Name, cfg.Backends[1].Name)
	}
}

func FuzzConfigYAML(f *testing.F) {
	f.Add("backends: [{addr: '127.0.0.1:1'}]\nmode: terminate\n")
	f.Add("listen: '[::1]:0'\nbackends: [{name: a, addr: 'h:65535'}, {addr: 'h:0'}]\ndial_timeout: -1s\n")
	f.Add("backends: [{addr: 'a:1', weight: 70000, max_conns: -1}]\nbalance: source\nhealth: {type: http, path: x, rise: -1}\nproxy_protocol: v3\nadmin: ':9100'\n")
	f.Add("backends: [{addr: 'a:1'}]\nmode: reencrypt\ncertificates: [{cert: c}]\nidle_timeout: 1ns\nmax_conns: 1\n")
	f.Fuzz(func(t *testing.T, src string) {
		cfg, err := DecodeConfig(strings.NewReader(src))
		if err != nil {
			return
		}
		if cfg.Validate() == nil {
			cfg.withDefaults()
		}
	})
}

func TestNewTerminateNeedsCert(t *testing.T) {
	_, err := New(Config{Backends: []Backend{{Addr: "127.0.0.1:1"}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "terminate mode needs a certificate") {
		t.Fatalf("got %v; want an error saying terminate mode needs a certificate", err)
	}
	_, err = New(Config{Backends: []Backend{{Addr: "127.0.0.1:1"}}, CertFile: "/nonexistent/c.pem", KeyFile: "k.pem"}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/c.pem") {
		t.Fatalf("got %v; want an error naming the certificate file", err)
	}
}

func TestAddrInUse(t *testing.T) {
	taken := listen(t)
	addr := taken.Addr().String()
	srv, err := New(Config{Listen: addr, Backends: backends(taken), Mode: ModePassthrough}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	err = srv.ListenAndServe(t.Context())
	if err == nil || !strings.Contains(err.Error(), addr) || !strings.Contains(err.Error(), "already in use: pick another address, or port 0 (e.g. 127.0.0.1:0)") {
		t.Fatalf("got %v; want an error naming %s and suggesting 127.0.0.1:0", err, addr)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "listen" {
		t.Errorf("got %#v; want a FieldError for listen", err)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("errors.Is(err, EADDRINUSE) = false for %v", err)
	}
}

func TestClose(t *testing.T) { forEachEngine(t, testClose) }

func testClose(t *testing.T, engine string) {
	srv, err := New(Config{Backends: backends(nameBackend(t, "a")), Mode: ModePassthrough, Engine: engine}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Addr() != nil {
		t.Errorf("Addr before Serve: got %v; want nil", srv.Addr())
	}
	ln := listen(t)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(t.Context(), ln) }()
	roundTrip(t, ln.Addr().String(), "x") // Serve is running
	if srv.Addr() == nil || srv.Addr().String() != ln.Addr().String() {
		t.Errorf("Addr: got %v; want %v", srv.Addr(), ln.Addr())
	}
	for i := range 2 {
		if err := srv.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Close: got %v; want nil", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Error("listener still accepts after Close")
	}
	if err := srv.Serve(t.Context(), listen(t)); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve on a closed server: got %v; want ErrServerClosed", err)
	}
}

func TestServeStopsWithContext(t *testing.T) { forEachEngine(t, testServeStopsWithContext) }

func testServeStopsWithContext(t *testing.T, engine string) {
	srv, err := New(Config{Backends: backends(nameBackend(t, "a")), Mode: ModePassthrough, Engine: engine}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(ctx) }() // Listen "" = 127.0.0.1:0
	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ListenAndServe after cancel: got %v; want nil", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("ListenAndServe did not return after its context ended")
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("Close after cancel: %v", err)
	}
}

// TestHealthCheck: a backend whose listener closes is marked down by the
// health check and traffic goes elsewhere; when it listens again on the
// same address (the one fixed port here, chosen by the kernel) it is
// marked up again.
func TestHealthCheck(t *testing.T) { forEachEngine(t, testHealthCheck) }

func testHealthCheck(t *testing.T, engine string) {
	o := newObserved()
	a := nameBackend(t, "a")
	addr := a.Addr().String()
	cfg := Config{Backends: backends(a, nameBackend(t, "b")), Mode: ModePassthrough, Engine: engine,
		Health: Health{Interval: 10 * time.Millisecond, Timeout: time.Second}}
	srv, front := startLB(t, cfg, nil, o.log)

	a.Close()
	o.waitEvent(t, "backend down")
	if st := srv.Status()[0]; st.Healthy || st.Failures == 0 {
		t.Fatalf("after close: got %+v; want a down", st)
	}
	for range 3 {
		if got := roundTrip(t, front, "x"); got != "b:x" {
			t.Fatalf("with a down: got %q; want %q", got, "b:x")
		}
	}

	again, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	t.Cleanup(func() { again.Close() })
	serve(again, nameHandler("a"))
	o.waitEvent(t, "backend up")
	if st := srv.Status()[0]; !st.Healthy {
		t.Fatalf("after re-listen: got %+v; want a up", st)
	}
	seen := map[string]bool{}
	for range 4 {
		seen[roundTrip(t, front, "x")] = true
	}
	if !seen["a:x"] || !seen["b:x"] {
		t.Errorf("after a is back: got replies %v; want both a and b", seen)
	}
}

// TestDocExample: the YAML example in docs/lb.md parses and validates, so
// the documentation cannot drift from the Config fields.
func TestDocExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/lb.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	src, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/lb.md has no yaml block")
	}
	cfg, err := DecodeConfig(strings.NewReader(src))
	if err != nil {
		t.Fatalf("docs/lb.md example: %v", err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("docs/lb.md example: %v", err)
	}
	if cfg.Health.Type != HealthHTTP || cfg.ProxyProtocol != "" || len(cfg.Certificates) != 1 || cfg.Backends[0].Weight != 2 {
		t.Errorf("docs/lb.md example read as %+v", cfg)
	}
}
