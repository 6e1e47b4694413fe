package main

import (
	"fmt"
	"io"
	"os"
	"slices"
)

// "krbfarm-bench agree A.json B.json" checks that two benchmark runs of
// the same commit tell the same story: for every metric and subject in
// both, each run's median must lie inside the other run's min..max. A run
// whose medians fall outside a second run's ranges measured the machine's
// noise, not the subjects. It also sets the two runs' ratios side by side.

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

// writeAgreement prints one line per metric and subject and a summary;
// it returns how many pairs disagree.
func writeAgreement(w io.Writer, a, b *Results, units map[string]string) int {
	rows := [][]string{{"METRIC", "LAYOUT", "SUBJECT", "RUN A", "RUN B", "VERDICT"}}
	bad := 0
	list := compareRuns(a, b)
	for _, g := range list {
		u := units[g.metric]
		verdict := "agree"
		switch {
		case !g.agree && g.overlap:
			verdict = "ranges overlap, a median outside"
			bad++
		case !g.agree:
			verdict = "DISAGREE"
			bad++
		}
		rows = append(rows, []string{g.metric, g.layout, g.subject,
			formatValue(g.a, u) + " (" + formatRange(g.ra, u) + ")",
			formatValue(g.b, u) + " (" + formatRange(g.rb, u) + ")", verdict})
	}
	printAligned(w, rows)
	fmt.Fprintf(w, "\n%d of %d medians lie inside the other run's range\n", len(list)-bad, len(list))
	writeRatios(w, a, b)
	return bad
}

// writeRatios sets each metric's krbfarm/best-peer ratio of the two runs
// side by side: the verdict a reader takes away must not flip.
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
// median lies inside the other run's range, 1 when some do not, 2 on
// bad input.
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
	if writeAgreement(os.Stdout, a, b, units) > 0 {
		return 1
	}
	return 0
}
