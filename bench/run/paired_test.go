package main

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestPairRatios(t *testing.T) {
	nan := math.NaN()
	got := pairRatios([]float64{10, nan, 12, 9}, []float64{5, 4, nan, 0})
	if len(got) != 1 || got[0] != 2 {
		t.Errorf("pairRatios = %v; want [2] (rounds missing on either side and zero peers left out)", got)
	}
	if got := pairRatios([]float64{1, 2}, []float64{1}); got != nil {
		t.Errorf("runs of different lengths paired: %v", got)
	}
}

// A failed round leaves a gap: round i still pairs with round i.
func TestPairsSkipFailedRounds(t *testing.T) {
	m := newMetric("x", "req/s", higher)
	m.set(subjKrbfarm, 100, "")
	m.set(subjHAProxy, 50, "")
	m.fail(subjKrbfarm, errors.New("wrk timed out"))
	m.set(subjHAProxy, 1000, "") // would pair with 120 if the gap were lost
	m.set(subjKrbfarm, 120, "")
	m.set(subjHAProxy, 40, "")
	m.computeRatio()
	if got := m.Skipped[subjKrbfarm]; len(got) != 1 || got[0] != 1 {
		t.Fatalf("skipped %v; want [1]", got)
	}
	pr := m.RoundRatios[subjHAProxy]
	if pr == nil || len(pr.Rounds) != 2 || pr.Rounds[0] != 2 || pr.Rounds[1] != 3 {
		t.Fatalf("paired %+v; want rounds 2, 3", pr)
	}
	if m.Ratio != 2.5 || *m.RatioRange != (Range{2, 3}) || m.Tie {
		t.Errorf("ratio %v range %v tie %v; want 2.5 [2 3] false", m.Ratio, m.RatioRange, m.Tie)
	}
	if got := formatRatio(m); got != "2.50x haproxy (2.00..3.00)" {
		t.Errorf("formatRatio = %q", got)
	}
}

// A results file from before paired ratios gets them from its rounds,
// for every subject but krbfarm's and direct.
func TestUpgradeOldResults(t *testing.T) {
	m := newMetric("x", "conn/s", higher)
	for i, v := range []float64{100, 90, 110} {
		m.set(subjKrbfarm, v, "")
		m.set("krbfarm-goroutine", v, "")
		m.set(subjApache, []float64{50, 60, 55}[i], "")
		m.set(subjDirect, 200, "")
	}
	m.BestPeer, m.Ratio, m.Tie = subjApache, 100.0/55, false // as an old file has them
	r := &Results{Metrics: []*Metric{m}}
	r.upgrade()
	if len(m.RoundRatios) != 1 || m.RoundRatios[subjApache] == nil {
		t.Fatalf("round ratios %v; want apache's only", m.RoundRatios)
	}
	if m.Ratio != 2 || *m.RatioRange != (Range{1.5, 2}) {
		t.Errorf("ratio %v range %v; want 2 (2, 1.5, 2) [1.5 2]", m.Ratio, m.RatioRange)
	}
	if got := mdRatio(m, false); got != "2.00x (1.50..2.00)" {
		t.Errorf("mdRatio = %q", got)
	}
}

func TestBusyShare(t *testing.T) {
	tests := []struct {
		cpu, wall time.Duration
		ncpu      int
		want      float64
	}{
		{3 * time.Second, 3 * time.Second, 1, 1},
		{2 * time.Second, 4 * time.Second, 1, 0.5},
		{3 * time.Second, 2 * time.Second, 2, 0.75},
		{time.Second, 0, 1, 0},
		{time.Second, time.Second, 0, 0},
	}
	for _, tt := range tests {
		if got := busyShare(tt.cpu, tt.wall, tt.ncpu); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("busyShare(%v, %v, %d) = %v; want %v", tt.cpu, tt.wall, tt.ncpu, got, tt.want)
		}
	}
	m := newMetric("x", "conn/s", higher)
	m.Layout = layoutPinned
	m.addBusy(subjKrbfarm, busyShares{balancer: 0.66, load: 0.99})
	m.addBusy(subjKrbfarm, busyShares{balancer: 0.70, load: 0.97})
	m.addBusy(subjKrbfarm, busyShares{balancer: 0.60, load: 1.00})
	m.addBusy(subjDirect, busyShares{balancer: -1, load: 0.98})
	if got := m.busyNote(subjKrbfarm); got != "balancer busy 66%, load side busy 99%" {
		t.Errorf("busyNote = %q", got)
	}
	if got := m.busyNote(subjDirect); got != "load side busy 98%" {
		t.Errorf("busyNote(direct) = %q; want the load side only", got)
	}
	ts := tableSpec{layout: layoutPinned, label: lbLabel}
	lines := ts.busyLines(&Results{Metrics: []*Metric{m}}, []column{{subjKrbfarm, "krbfarm"}, {subjHAProxy, "HAProxy"}})
	if !strings.Contains(lines, "- x conn/s: krbfarm 66% / 99%\n") || !strings.Contains(lines, "of one CPU each") {
		t.Errorf("busyLines:\n%s", lines)
	}
}

// A ratio range that shows as 1.00..1.00 is a tie even when it misses 1.0
// by a hair; one that shows 1.01 at an end is not.
func TestTieToDisplayPrecision(t *testing.T) {
	for _, tt := range []struct {
		r    Range
		want bool
	}{
		{Range{1.0001, 1.0001}, true},
		{Range{0.9999, 1.0049}, true},
		{Range{0.98, 1.02}, true},
		{Range{1.0051, 1.02}, false},
		{Range{0.97, 0.994}, false},
	} {
		if got := tt.r.isTie(); got != tt.want {
			t.Errorf("%v.isTie() = %v; want %v", tt.r, got, tt.want)
		}
	}
}
