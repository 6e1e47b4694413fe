package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd, unsorted", []float64{9, 1, 5, 3, 7}, 5},
		{"even: mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
		{"an outlier does not move it", []float64{100, 101, 99, 10, 100}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v; want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("median reordered its input: %v, was %v", tt.xs, in)
				}
			}
		})
	}
}

func TestSpanAndOverlap(t *testing.T) {
	if got := span([]float64{3, 9, 1, 4}); got != (Range{1, 9}) {
		t.Errorf("span = %v; want [1 9]", got)
	}
	if got := span(nil); got != (Range{}) {
		t.Errorf("span(nil) = %v; want zeros", got)
	}
	tests := []struct {
		a, b Range
		want bool
	}{
		{Range{1, 5}, Range{4, 8}, true},
		{Range{4, 8}, Range{1, 5}, true},
		{Range{1, 5}, Range{5, 8}, true}, // touching counts
		{Range{1, 3}, Range{4, 8}, false},
		{Range{4, 8}, Range{1, 3}, false},
		{Range{1, 9}, Range{4, 5}, true}, // one inside the other
		{Range{2, 2}, Range{2, 2}, true},
	}
	for _, tt := range tests {
		if got := tt.a.overlaps(tt.b); got != tt.want {
			t.Errorf("%v.overlaps(%v) = %v; want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestRoundsTie(t *testing.T) {
	tests := []struct {
		name      string
		better    string
		krbfarm   []float64
		haproxy   []float64
		wantRatio float64
		wantTie   bool
	}{
		// Paired ratios 1.04, 0.947, 0.917: median 0.947, range holds 1.
		{"paired ratios, range holds 1", higher, []float64{104, 90, 110}, []float64{100, 95, 120}, 90.0 / 95, true},
		// 1.3, 1.316, 1.067: all above 1.
		{"apart: no tie", higher, []float64{130, 125, 128}, []float64{100, 95, 120}, 1.3, false},
		{"lower is better, apart", lower, []float64{10, 11, 12}, []float64{20, 21, 25}, 0.5, false},
		{"one round each, equal", lower, []float64{5}, []float64{5}, 1, true},
		// Ranges overlap (95..105 vs 100..110) but krbfarm is ahead in
		// every round: 1.05, 1.05, 1.05.
		{"ranges overlap, every round ahead", higher, []float64{105, 95, 100}, []float64{100, 90.5, 95.2}, 1.05, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newMetric("x", "req/s", tt.better)
			for i := range tt.krbfarm {
				m.set(subjKrbfarm, tt.krbfarm[i], "")
			}
			for _, v := range tt.haproxy {
				m.set(subjHAProxy, v, "")
			}
			m.computeRatio()
			if math.Abs(m.Ratio-tt.wantRatio) > 1e-9 || m.Tie != tt.wantTie || m.BestPeer != subjHAProxy {
				t.Errorf("got ratio %v tie %v peer %q; want %v %v haproxy", m.Ratio, m.Tie, m.BestPeer, tt.wantRatio, tt.wantTie)
			}
			tie := strings.HasSuffix(formatRatio(m), "tie)")
			if tie != tt.wantTie {
				t.Errorf("formatRatio = %q; tie shown %v, want %v", formatRatio(m), tie, tt.wantTie)
			}
		})
	}
}

func TestSetKeepsEveryRound(t *testing.T) {
	m := newMetric("x", "req/s", higher)
	for _, v := range []float64{30000, 10000, 20000} {
		m.set(subjKrbfarm, v, "")
	}
	m.fail(subjKrbfarm, errors.New("wrk timed out"))
	if got := m.Rounds[subjKrbfarm]; len(got) != 3 || got[0] != 30000 || got[2] != 20000 {
		t.Errorf("rounds %v; want 30000 10000 20000 in order", got)
	}
	if m.Values[subjKrbfarm] != 20000 || m.Ranges[subjKrbfarm] != (Range{10000, 30000}) {
		t.Errorf("median %v range %v; want 20000 [10000 30000]", m.Values[subjKrbfarm], m.Ranges[subjKrbfarm])
	}
	if n := m.Notes[subjKrbfarm]; !strings.Contains(n, "wrk timed out") || !strings.Contains(n, "3 succeeded") {
		t.Errorf("note %q does not say a round failed and 3 counted", n)
	}
	if got := formatCell(m, subjKrbfarm, "*"); got != "20.0k (10.0k..30.0k)*" {
		t.Errorf("cell %q; want 20.0k (10.0k..30.0k)*", got)
	}
}

func TestParseLayouts(t *testing.T) {
	tests := []struct {
		name, in string
		ncpu     int
		want     string
		wantErr  bool
	}{
		{"both", "pinned,unpinned", 2, "pinned,unpinned", false},
		{"one, spaces", " unpinned ", 1, "unpinned", false},
		{"pinned on one CPU", "pinned", 1, "", true},
		{"unknown", "pinned,numa", 2, "", true},
		{"twice", "pinned,pinned", 2, "", true},
		{"empty", ",", 2, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLayouts(tt.in, tt.ncpu)
			if (err != nil) != tt.wantErr || strings.Join(got, ",") != tt.want {
				t.Fatalf("parseLayouts(%q, %d) = %v, %v; want %q (error %v)", tt.in, tt.ncpu, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	// A command name with spaces and a ")" in it; utime 250, stime 50.
	stat := "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 100 1000 200"
	got, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 300 * time.Second / time.Duration(clkTck()); got != want {
		t.Errorf("parseStatCPU = %v; want %v", got, want)
	}
	if _, err := parseStatCPU("4242 (x) S 1 2"); err == nil {
		t.Error("parseStatCPU accepted a short line")
	}
	if got := perOp(3*time.Second, 1e6); got != 3 {
		t.Errorf("perOp(3s, 1e6) = %v µs; want 3", got)
	}
	if got := perOp(time.Second, 0); got != 0 {
		t.Errorf("perOp(1s, 0) = %v; want 0", got)
	}
}

func TestPercentile(t *testing.T) {
	var xs []time.Duration
	for i := 100; i >= 1; i-- { // 100ms down to 1ms: unsorted
		xs = append(xs, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}}
	for _, tt := range tests {
		if got := percentile(xs, tt.p); got != tt.want {
			t.Errorf("percentile(1..100ms, %v) = %v; want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("percentile(nil) = %v; want 0", got)
	}
}
