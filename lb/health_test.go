package lb

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// statusBackend is an HTTP backend whose /healthz answers code.
func statusBackend(t *testing.T, name string, code *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(code.Load()))
			return
		}
		w.Write([]byte(name))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestHealthHTTP: a backend answering 503 goes down after fall checks, its
// traffic goes elsewhere, and it comes back after rise checks of 200.
func TestHealthHTTP(t *testing.T) { forEachEngine(t, testHealthHTTP) }

func testHealthHTTP(t *testing.T, engine string) {
	var codeA, codeB atomic.Int32
	codeA.Store(200)
	codeB.Store(200)
	a, b := statusBackend(t, "a", &codeA), statusBackend(t, "b", &codeB)
	o := newObserved()
	cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: []Backend{
		{Name: "a", Addr: a.Listener.Addr().String()}, {Name: "b", Addr: b.Listener.Addr().String()},
	}, Health: Health{Type: HealthHTTP, Interval: 5 * time.Millisecond, Rise: 2, Fall: 2}}
	srv, front := startLB(t, cfg, nil, o.log)
	get := func() string {
		t.Helper()
		// A new connection per request: L4 balancing is per connection.
		c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit}
		resp, err := c.Get("http://" + front + "/")
		if err != nil {
			t.Fatalf("GET through the LB: %v", err)
		}
		defer resp.Body.Close()
		buf := make([]byte, 8)
		n, _ := resp.Body.Read(buf)
		return string(buf[:n])
	}

	codeA.Store(503)
	o.waitEvent(t, "backend down")
	if st := srv.Status()[0]; st.Healthy || st.Failures < 2 {
		t.Fatalf("a after 503s: got %+v; want down with at least fall=2 failures", st)
	}
	for range 4 {
		if got := get(); got != "b" {
			t.Fatalf("with a down: got %q; want b", got)
		}
	}
	codeA.Store(200)
	o.waitEvent(t, "backend up")
	seen := map[string]bool{}
	for range 4 {
		seen[get()] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("after a is back: got %v; want both", seen)
	}
}

// TestHealthHTTPPath: the check asks for the configured path.
func TestHealthHTTPPath(t *testing.T) {
	paths := make(chan string, 16)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case paths <- r.URL.Path:
		default:
		}
	}))
	defer be.Close()
	cfg := Config{Mode: ModePassthrough, Backends: []Backend{{Addr: be.Listener.Addr().String()}},
		Health: Health{Type: HealthHTTP, Path: "/iisstart.htm", Interval: time.Hour}}
	startLB(t, cfg, nil, nil)
	select {
	case p := <-paths:
		if p != "/iisstart.htm" {
			t.Errorf("check path: got %q; want /iisstart.htm", p)
		}
	case <-time.After(waitLimit):
		t.Fatal("no health check arrived")
	}
}

// TestEjectAfter: with eject_after 2, one refused connect leaves the
// backend up (the client is retried elsewhere), the second takes it down.
// Round-robin tries the dead backend first on connections 1 and 2 (the
// retry on b uses a turn); fall is high
// so the active checks never eject it themselves.
func TestEjectAfter(t *testing.T) { forEachEngine(t, testEjectAfter) }

func testEjectAfter(t *testing.T, engine string) {
	dead := listen(t)
	dead.Close()
	cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: backends(dead, nameBackend(t, "b")),
		Health: Health{Interval: time.Hour, Fall: 100, EjectAfter: 2}}
	srv, front := startLB(t, cfg, nil, nil)
	for i, wantUp := range []bool{true, false} {
		if got := roundTrip(t, front, "x"); got != "b:x" {
			t.Fatalf("connection %d: got %q; want b:x", i+1, got)
		}
		// The failed connect happened before the retry that answered.
		if got := srv.Status()[0].Healthy; got != wantUp {
			t.Fatalf("after connection %d: healthy=%v; want %v", i+1, got, wantUp)
		}
	}
}
