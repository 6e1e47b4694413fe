package main

import (
	"bytes"
	"strings"
	"testing"
)

func metricWith(name string, rounds map[string][]float64) *Metric {
	m := newMetric(name, "req/s", higher)
	for s, rs := range rounds {
		for _, v := range rs {
			m.set(s, v, "")
		}
	}
	m.computeRatio()
	return m
}

func TestCompareRunsAgreement(t *testing.T) {
	a := &Results{Metrics: []*Metric{
		metricWith("keep-alive", map[string][]float64{subjKrbfarm: {100, 110, 120}, subjHAProxy: {90, 95, 100}}),
		metricWith("new conn", map[string][]float64{subjKrbfarm: {50, 52, 54}}),
		metricWith("only in a", map[string][]float64{subjKrbfarm: {1}}),
	}}
	b := &Results{Metrics: []*Metric{
		metricWith("keep-alive", map[string][]float64{subjKrbfarm: {105, 112, 130}, subjHAProxy: {40, 45, 50}}),
		metricWith("new conn", map[string][]float64{subjKrbfarm: {53, 60, 70}}),
	}}
	got := map[string]agreement{}
	for _, g := range compareRuns(a, b) {
		got[g.metric+"/"+g.subject] = g
	}
	if len(got) != 3 {
		t.Fatalf("compared %d pairs, want 3 (metrics in one run only are skipped): %v", len(got), got)
	}
	if g := got["keep-alive/krbfarm"]; !g.agree || !g.overlap {
		t.Errorf("krbfarm 110 in 105..130 and 112 in 100..120 should agree: %+v", g)
	}
	if g := got["keep-alive/haproxy"]; g.agree || g.overlap {
		t.Errorf("haproxy 95 (90..100) vs 45 (40..50) should disagree: %+v", g)
	}
	if g := got["new conn/krbfarm"]; g.agree || !g.overlap {
		t.Errorf("52 (50..54) vs 60 (53..70): ranges overlap but 60 is outside 50..54: %+v", g)
	}
	var out bytes.Buffer
	if n := writeAgreement(&out, a, b, map[string]string{}); n != 2 {
		t.Errorf("writeAgreement counted %d disagreements, want 2:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "1 of 3 medians lie inside") {
		t.Errorf("summary line missing:\n%s", out.String())
	}
}

func TestAgreeMainBadInput(t *testing.T) {
	if code := agreeMain([]string{"only-one.json"}); code != 2 {
		t.Errorf("one argument: exit %d, want 2", code)
	}
	if code := agreeMain([]string{t.TempDir() + "/missing.json", "x"}); code != 2 {
		t.Errorf("missing file: exit %d, want 2", code)
	}
}
