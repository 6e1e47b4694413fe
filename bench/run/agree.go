package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
)

// "krbfarm-bench agree A.json B.json" checks that two benchmark runs of
// the same commit tell the same story: for every metric and peer in both,
// each run's median paired ratio (krbfarm_i / peer_i within round i,
// paired.go) must lie inside the other run's min..max of them. Paired
// ratios cancel what drifts for every subject alike (the shared machine
// got busier between runs); a real change in krbfarm, or in a peer, moves
// them. The absolute medians are printed too, for information: they carry
// that common-mode drift.

// agreement is one metric's subject compared across two runs.
type agreement struct {
	metric, layout, subject string
	a, b                    float64 // medians
	ra, rb                  Range
	agree                   bool // each median inside the other's range
	overlap                 bool // the ranges share a value
}

// compareRuns pairs the metrics of a and b by name and layout, subject by
// subject, in a's order; metrics or subjects in one run only are skipped.
func compareRuns(a, b *Results) []agreement {
	var out []agreement
	for _, ma := range a.Metrics {
		mb := findMetric(b, ma.Name, ma.Layout)
		if mb == nil {
			continue
		}
		subjects := make([]string, 0, len(ma.Values))
		for s := range ma.Values {
			subjects = append(subjects, s)
		}
		slices.Sort(subjects)
		for _, s := range subjects {
			vb, ok := mb.Values[s]
			if !ok {
				continue
			}
			va, ra, rb := ma.Values[s], ma.rangeOf(s), mb.rangeOf(s)
			out = append(out, agreement{
				metric: ma.Name, layout: ma.Layout, subject: s, a: va, b: vb, ra: ra, rb: rb,
				agree:   inside(va, rb) && inside(vb, ra),
				overlap: ra.overlaps(rb),
			})
		}
	}
	return out
}

func findMetric(r *Results, name, layout string) *Metric {
	for _, m := range r.Metrics {
		if m.Name == name && m.Layout == layout {
			return m
		}
	}
	return nil
}

func inside(v float64, r Range) bool { return r.min() <= v && v <= r.max() }

// ratioAgreement is krbfarm's paired ratio to one peer, for one metric,
// across two runs.
type ratioAgreement struct {
	metric, layout, peer string
	a, b                 *Paired
	agree                bool // each run's median inside the other's range
}

// compareRatios pairs the metrics of a and b by name and layout, peer by
// peer, in a's order; metrics or peers without paired ratios in both
// runs are skipped.
func compareRatios(a, b *Results) []ratioAgreement {
	var out []ratioAgreement
	for _, ma := range a.Metrics {
		mb := findMetric(b, ma.Name, ma.Layout)
		if mb == nil {
			continue
		}
		for _, p := range sortedKeys(ma.RoundRatios) {
			pa, pb := ma.RoundRatios[p], mb.RoundRatios[p]
			if pb == nil {
				continue
			}
			out = append(out, ratioAgreement{metric: ma.Name, layout: ma.Layout, peer: p, a: pa, b: pb,
				agree: pb.Range.contains(pa.Median) && pa.Range.contains(pb.Median)})
		}
	}
	return out
}

// writeAgreement prints the verdict on the paired ratios, a line per
// metric and peer, then the absolute medians for information (they move
// with the machine's common-mode drift); it returns how many paired
// ratios disagree.
func writeAgreement(w io.Writer, a, b *Results, units map[string]string) int {
	rows := [][]string{{"METRIC", "LAYOUT", "KRBFARM / PEER", "RUN A", "RUN B", "VERDICT"}}
	bad := 0
	list := compareRatios(a, b)
	for _, g := range list {
		verdict := "agree"
		if !g.agree {
			verdict = fmt.Sprintf("DISAGREE (a median %.2f%% outside)", 100*g.outside())
			bad++
		}
		rows = append(rows, []string{g.metric, g.layout, g.peer, formatPaired(g.a), formatPaired(g.b), verdict})
	}
	fmt.Fprintln(w, "paired per-round ratios krbfarm_i / peer_i (the verdict): median (min..max)")
	printAligned(w, rows)
	fmt.Fprintf(w, "\n%d of %d paired ratios: each run's median lies inside the other run's range\n", len(list)-bad, len(list))
	fmt.Fprintf(w, "%s\n\n", chanceLine(list))
	writeAbsolute(w, a, b, units)
	writeRatios(w, a, b)
	return bad
}

// outside is how far, relative, the median farther outside the other
// run's range lies beyond it; 0 when both lie inside.
func (g ratioAgreement) outside() float64 {
	return max(distance(g.a.Median, g.b.Range), distance(g.b.Median, g.a.Range))
}

// distance is how far v lies outside r, relative to v; 0 inside.
func distance(v float64, r Range) float64 {
	switch {
	case v < r.min():
		return (r.min() - v) / v
	case v > r.max():
		return (v - r.max()) / v
	}
	return 0
}

func formatPaired(p *Paired) string {
	return fmt.Sprintf("%.3f (%.3f..%.3f)", p.Median, p.Range.min(), p.Range.max())
}

// writeAbsolute prints one line per metric and subject and a summary,
// for information only: a drift of the whole machine between runs moves
// every subject alike, so these may disagree where the ratios do not.
func writeAbsolute(w io.Writer, a, b *Results, units map[string]string) {
	fmt.Fprintln(w, "absolute medians (informational: they carry the machine's common-mode drift between runs)")
	rows := [][]string{{"METRIC", "LAYOUT", "SUBJECT", "RUN A", "RUN B", "MEDIANS"}}
	in := 0
	list := compareRuns(a, b)
	for _, g := range list {
		u := units[g.metric]
		verdict := "each inside the other's range"
		switch {
		case g.agree:
			in++
		case g.overlap:
			verdict = "ranges overlap, a median outside"
		default:
			verdict = "ranges apart"
		}
		rows = append(rows, []string{g.metric, g.layout, g.subject,
			formatValue(g.a, u) + " (" + formatRange(g.ra, u) + ")",
			formatValue(g.b, u) + " (" + formatRange(g.rb, u) + ")", verdict})
	}
	printAligned(w, rows)
	fmt.Fprintf(w, "\n%d of %d absolute medians lie inside the other run's range (informational)\n", in, len(list))
}

// writeRatios sets each metric's headline krbfarm/best-peer ratio of the
// two runs side by side: the verdict a reader takes away must not flip.
func writeRatios(w io.Writer, a, b *Results) {
	rows := [][]string{{"METRIC", "LAYOUT", "RATIO A", "RATIO B"}}
	for _, ma := range a.Metrics {
		mb := findMetric(b, ma.Name, ma.Layout)
		if mb == nil || ma.Ratio == 0 || mb.Ratio == 0 {
			continue
		}
		rows = append(rows, []string{ma.Name, ma.Layout, formatRatio(ma), formatRatio(mb)})
	}
	if len(rows) > 1 {
		fmt.Fprintln(w)
		printAligned(w, rows)
	}
}

// agreeMain is "krbfarm-bench agree A.json B.json": exit 0 when every
// paired ratio's median lies inside the other run's range, 1 when some
// do not or the runs share none, 2 on bad input.
func agreeMain(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: krbfarm-bench agree A.json B.json (two results files of the same commit)")
		return 2
	}
	a, err := readResults(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench agree:", err)
		return 2
	}
	b, err := readResults(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench agree:", err)
		return 2
	}
	units := map[string]string{}
	for _, m := range a.Metrics {
		units[m.Name] = m.Unit
	}
	if writeAgreement(os.Stdout, a, b, units) > 0 || len(compareRatios(a, b)) == 0 {
		return 1
	}
	return 0
}

// This verdict fails now and then even when nothing changed and the
// machine did not drift: two runs' rounds are two samples, and a median
// of one falls outside the min..max of the other by chance. With rounds
// drawn independently from one distribution (whatever it is: only ranks
// matter), the chance that a metric agrees is about 0.72 with 5 rounds a
// run, 0.87 with 7, 0.97 with 10 and 0.99 with 12. chanceLine says how
// many misses chance alone would give over list, so that a reader can
// tell drift (more misses than that) from sampling (about as many).
func chanceLine(list []ratioAgreement) string {
	expected := 0.0
	for _, g := range list {
		expected += 1 - chanceAgree(len(g.a.Rounds), len(g.b.Rounds))
	}
	return fmt.Sprintf("chance alone: had every round of both runs been drawn from one distribution (no drift), about %.1f of these %d would disagree (%d simulated pairs of runs per round count)",
		expected, len(list), chanceTrials)
}

const chanceTrials = 20000

var chanceMemo = map[[2]int]float64{}

// chanceAgree is the probability, estimated over chanceTrials draws with
// a fixed seed, that two runs of na and nb rounds drawn from one
// continuous distribution agree: each median inside the other's min..max.
func chanceAgree(na, nb int) float64 {
	if na < 1 || nb < 1 {
		return 0
	}
	if p, ok := chanceMemo[[2]int{na, nb}]; ok {
		return p
	}
	r := rand.New(rand.NewPCG(uint64(na), uint64(nb)))
	a, b := make([]float64, na), make([]float64, nb)
	n := 0
	for range chanceTrials {
		for i := range a {
			a[i] = r.Float64()
		}
		for i := range b {
			b[i] = r.Float64()
		}
		if inside(median(a), span(b)) && inside(median(b), span(a)) {
			n++
		}
	}
	p := float64(n) / chanceTrials
	chanceMemo[[2]int{na, nb}] = p
	return p
}
