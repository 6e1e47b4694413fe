package lb

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAdmin(t *testing.T) { forEachEngine(t, testAdmin) }

func testAdmin(t *testing.T, engine string) {
	a, b := nameBackend(t, "a"), nameBackend(t, "b")
	cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: backends(a, b), Balance: BalanceLeastConn, Health: Health{Interval: time.Hour}}
	srv, front := startLB(t, cfg, nil, nil)
	for range 2 {
		roundTrip(t, front, "hello")
	}
	aln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.ServeAdmin(ctx, aln) }()
	defer func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("ServeAdmin: %v", err)
		}
	}()
	get := func(path string) string {
		t.Helper()
		resp, err := (&http.Client{Timeout: waitLimit}).Get("http://" + aln.Addr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return string(body)
	}
	metrics := get("/metrics")
	for _, want := range []string{
		`krbfarm_lb_backend_up{addr="` + a.Addr().String() + `",backend="a"} 1`,
		`krbfarm_lb_backend_connections_total{backend="a"} 1`,
		`krbfarm_lb_backend_connections_total{backend="b"} 1`,
		`krbfarm_lb_backend_active_connections{backend="a"} 0`,
		`krbfarm_lb_backend_bytes_total{backend="a",direction="in"} 5`,
		`krbfarm_lb_backend_bytes_total{backend="a",direction="out"} 7`,
		`krbfarm_lb_backend_failures_total{backend="b"} 0`,
		`krbfarm_lb_connections_total 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var st Status
	if err := json.Unmarshal([]byte(get("/status")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Balance != BalanceLeastConn || st.Total != 2 || len(st.Backends) != 2 || st.Backends[1].BytesOut != 7 {
		t.Errorf("/status: got %+v", st)
	}
}

func TestAdminAddress(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
		ok     bool
	}{
		{"127.0.0.1:9100", false, true},
		{"[::1]:9100", false, true},
		{"localhost:9100", false, true},
		{":9100", false, false},
		{"0.0.0.0:9100", false, false},
		{"192.0.2.1:9100", false, false},
		{"0.0.0.0:9100", true, true},
		{"nonsense", true, false},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			cfg := Config{Backends: []Backend{{Addr: "127.0.0.1:1"}}, Admin: tc.addr, AdminPublic: tc.public}
			err := cfg.Validate()
			if (err == nil) != tc.ok {
				t.Fatalf("got %v; want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "admin:") {
				t.Errorf("error %q does not name the field", err)
			}
		})
	}
}
