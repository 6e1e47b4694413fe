package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestComputeRatio(t *testing.T) {
	tests := []struct {
		name     string
		better   string
		values   map[string]float64
		wantPeer string
		want     float64
	}{
		{"higher: best is the max", higher, map[string]float64{subjKrbfarm: 30, subjHAProxy: 20, subjNginx: 40, subjDirect: 100}, subjNginx, 0.75},
		{"lower: best is the min", lower, map[string]float64{subjKrbfarm: 6, subjHAProxy: 3, subjNginx: 9}, subjHAProxy, 2},
		{"direct is never a peer", higher, map[string]float64{subjKrbfarm: 10, subjHAProxy: 5, subjDirect: 50}, subjHAProxy, 2},
		{"a failed peer is skipped", higher, map[string]float64{subjKrbfarm: 10, subjNginx: 20}, subjNginx, 0.5},
		{"a zero peer is skipped", lower, map[string]float64{subjKrbfarm: 4, subjHAProxy: 0, subjNginx: 2}, subjNginx, 2},
		{"no krbfarm: no ratio", higher, map[string]float64{subjHAProxy: 5, subjNginx: 7}, subjNginx, 0},
		{"no peer: no ratio", higher, map[string]float64{subjKrbfarm: 5}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetric("x", "req/s", tt.better)
			for s, v := range tt.values {
				m.set(s, v, "")
			}
			m.computeRatio()
			if m.BestPeer != tt.wantPeer || math.Abs(m.Ratio-tt.want) > 1e-9 {
				t.Errorf("got %q %v; want %q %v", m.BestPeer, m.Ratio, tt.wantPeer, tt.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		unit string
		want string
	}{
		{75142.4, "req/s", "75.1k"},
		{3612.4, "hs/s", "3612"},
		{1.0814, "GB/s", "1.08"},
		{0.5849, "ms", "0.58"},
		{21.66, "KiB/conn", "21.7"},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			if got := formatValue(tt.v, tt.unit); got != tt.want {
				t.Errorf("formatValue(%v, %q) = %q; want %q", tt.v, tt.unit, got, tt.want)
			}
		})
	}
}

func TestWriteTable(t *testing.T) {
	m := newMetric("keep-alive small requests", "req/s", higher)
	m.set(subjKrbfarm, 30000, "")
	m.set(subjNginx, 40000, "")
	m.fail(subjHAProxy, errors.New("haproxy did not start"))
	m.computeRatio()
	var b bytes.Buffer
	writeTable(&b, []string{subjKrbfarm, subjHAProxy, subjNginx, subjDirect}, []*Metric{m})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines; want header, row, note:\n%s", len(lines), b.String())
	}
	for _, want := range []string{"30.0k", "-*", "40.0k", "0.75x nginx", "higher"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("row %q lacks %q", lines[1], want)
		}
	}
	if !strings.Contains(lines[2], "haproxy: failed: haproxy did not start") {
		t.Errorf("note %q does not say why haproxy has no figure", lines[2])
	}
	if strings.Index(lines[0], "krbfarm/best peer") != strings.Index(lines[1], "0.75x") {
		t.Errorf("columns not aligned:\n%s", b.String())
	}
}

func TestWriteJSON(t *testing.T) {
	m := newMetric("64 MiB bodies", "GB/s", higher)
	m.set(subjKrbfarm, 2, "")
	m.set(subjHAProxy, 1, "")
	m.computeRatio()
	path := filepath.Join(t.TempDir(), "results.json")
	if err := writeJSON(path, &Results{Metrics: []*Metric{m}}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got Results
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if g := got.Metrics[0]; g.Ratio != 2 || g.BestPeer != subjHAProxy || g.Values[subjKrbfarm] != 2 {
		t.Errorf("got %+v; want ratio 2 over haproxy", g)
	}
}

func TestParseWrk(t *testing.T) {
	out := "Running 1s test\n" +
		`WRKJSON {"requests":1000,"bytes":128000,"duration_us":2000000,"p50_us":500,"p99_us":1500,"errors":{"connect":0,"read":2,"write":0,"status":0,"timeout":0}}` + "\n"
	r, err := parseWrk(out)
	if err != nil {
		t.Fatal(err)
	}
	if r.rate() != 500 || r.P99US != 1500 || r.errorNote() == "" {
		t.Errorf("got rate %v p99 %v note %q; want 500, 1500 and a note on the read errors", r.rate(), r.P99US, r.errorNote())
	}
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk accepted output without a summary")
	}
}

func TestIdleTarget(t *testing.T) {
	if got := idleTarget(10000, 1048576); got != 10000 {
		t.Errorf("idleTarget(10000, 1M) = %d; want 10000", got)
	}
	if got := idleTarget(10000, 20000); 2*(got+connSlack)+400 > 20000 {
		t.Errorf("idleTarget(10000, 20000) = %d: HAProxy would need more than 20000 fds", got)
	}
}

func TestParseEngines(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string
		wantErr  bool
	}{
		{"one", "epoll", []string{"epoll"}, false},
		{"two, spaces", "epoll, goroutine", []string{"epoll", "goroutine"}, false},
		{"unknown", "epoll,uring", nil, true},
		{"twice", "epoll,epoll", nil, true},
		{"empty", " , ", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseEngines(tt.in)
			if (err != nil) != tt.wantErr || strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("parseEngines(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
