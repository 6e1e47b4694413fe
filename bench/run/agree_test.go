package main

import (
	"bytes"
	"strings"
	"testing"
)

func metricWith(name string, rounds map[string][]float64) *Metric {
	m := newMetric(name, "req/s", higher)
	for _, s := range sortedKeys(rounds) {
		for _, v := range rounds[s] {
			m.set(s, v, "")
		}
	}
	m.computeRatio()
	return m
}

// syntheticRun is one run of five interleaved rounds: round i's machine
// speed drift[i] scales every subject alike, each subject has its own
// small jitter, and krbfarm's level is scaled by krbfarm.
func syntheticRun(drift []float64, krbfarm float64) *Results {
	jitter := map[string][]float64{
		subjKrbfarm: {1, 1.004, 0.997, 1.002, 0.999},
		subjHAProxy: {1.003, 0.998, 1, 1.001, 0.996},
		subjNginx:   {0.998, 1.002, 1.004, 0.997, 1},
		subjDirect:  {1, 1, 1, 1, 1},
	}
	level := map[string]float64{subjKrbfarm: 11000 * krbfarm, subjHAProxy: 11300, subjNginx: 11900, subjDirect: 14000}
	rounds := map[string][]float64{}
	for s, js := range jitter {
		for i, d := range drift {
			rounds[s] = append(rounds[s], level[s]*d*js[i])
		}
	}
	return &Results{Metrics: []*Metric{metricWith("new conn", rounds)}}
}

func TestAgreeJudgesPairedRatios(t *testing.T) {
	a := syntheticRun([]float64{1, 0.98, 1.02, 0.99, 1.01}, 1)
	// The whole machine 15% slower in run b, the round-to-round noise
	// different: every absolute median falls outside a's range.
	drifted := syntheticRun([]float64{0.85, 0.86, 0.84, 0.87, 0.85}, 1)
	var out bytes.Buffer
	if n := writeAgreement(&out, a, drifted, map[string]string{}); n != 0 {
		t.Errorf("common-mode drift: %d paired ratios disagree, want 0:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "0 of 4 absolute medians lie inside") {
		t.Errorf("the absolute medians should all be outside (informational):\n%s", out.String())
	}
	// krbfarm alone 8% slower: its ratio to both peers moves.
	changed := syntheticRun([]float64{1, 0.98, 1.02, 0.99, 1.01}, 0.92)
	out.Reset()
	if n := writeAgreement(&out, a, changed, map[string]string{}); n != 2 {
		t.Errorf("krbfarm 8%% slower: %d paired ratios disagree, want 2 (haproxy, nginx):\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "3 of 4 absolute medians lie inside") {
		t.Errorf("only krbfarm's absolute median should move:\n%s", out.String())
	}
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
	// Paired: a's ratios 1.11, 1.16, 1.2; b's 2.62, 2.49, 2.6: apart.
	ratios := compareRatios(a, b)
	if len(ratios) != 1 || ratios[0].peer != subjHAProxy || ratios[0].agree {
		t.Errorf("compareRatios = %+v; want one disagreement, haproxy on keep-alive", ratios)
	}
	var out bytes.Buffer
	if n := writeAgreement(&out, a, b, map[string]string{}); n != 1 {
		t.Errorf("writeAgreement counted %d disagreements, want 1:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "1 of 3 absolute medians lie inside") || !strings.Contains(out.String(), "0 of 1 paired ratios") {
		t.Errorf("summary lines missing:\n%s", out.String())
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

// TestChanceAgree checks the simulation against values worked out by
// hand. One round a run never agrees: two draws differ. With 7 rounds
// each, B's median lies above all of A when B holds the top 4 of the 14
// ranks, C(10,3)/C(14,7) = 0.035, and below all of A as often; so each
// median falls outside the other's range with chance 0.07, and the two
// agree with chance a little over 1 - 2*0.07 = 0.86 (0.873).
func TestChanceAgree(t *testing.T) {
	if p := chanceAgree(1, 1); p != 0 {
		t.Errorf("1 round each: %v; want 0", p)
	}
	for _, c := range []struct {
		n      int
		lo, hi float64
	}{{5, 0.70, 0.73}, {7, 0.86, 0.885}, {12, 0.98, 0.995}} {
		if p := chanceAgree(c.n, c.n); p < c.lo || p > c.hi {
			t.Errorf("%d rounds each: %.4f; want %.2f..%.3f", c.n, p, c.lo, c.hi)
		}
	}
	if chanceAgree(12, 12) <= chanceAgree(7, 7) {
		t.Error("more rounds should agree more often")
	}
}
