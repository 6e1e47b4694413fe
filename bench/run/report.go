package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Subjects measured. "direct" (the origin without a balancer) is a
// reference row, never a peer.
const (
	subjKrbfarm = "krbfarm"
	subjHAProxy = "haproxy"
	subjNginx   = "nginx"
	subjDirect  = "direct"
)

var peers = []string{subjHAProxy, subjNginx}

// Which way a metric improves.
const (
	higher = "higher"
	lower  = "lower"
)

// Metric is one line of the table: per subject, the figure of every
// round, their median (the value shown and compared) and their min-max;
// and krbfarm's ratio to the best peer, a tie when their ranges overlap.
type Metric struct {
	Name   string               `json:"name"`
	Unit   string               `json:"unit"`
	Better string               `json:"better"`           // "higher" or "lower"
	Layout string               `json:"layout,omitempty"` // "pinned" or "unpinned"
	Values map[string]float64   `json:"values"`           // median of the rounds
	Ranges map[string]Range     `json:"ranges,omitempty"` // [min, max] of the rounds
	Rounds map[string][]float64 `json:"rounds,omitempty"` // every round, in order
	Notes  map[string]string    `json:"notes,omitempty"`  // per subject: errors, shortfalls
	// Skipped are the rounds (from 0) in which a subject had no figure,
	// so that round i of one subject pairs with round i of another.
	Skipped map[string][]int `json:"skipped_rounds,omitempty"`
	// RoundRatios are krbfarm's per-round ratios to each peer (paired.go).
	RoundRatios map[string]*Paired `json:"round_ratios,omitempty"`
	BestPeer    string             `json:"best_peer,omitempty"` // the peer with the best median; "" when none has a value
	// Ratio is krbfarm / best peer: the median of the paired per-round
	// ratios (RatioRange their min..max), or in a file without rounds the
	// ratio of medians; 0 when unknown.
	Ratio      float64 `json:"ratio,omitempty"`
	RatioRange *Range  `json:"ratio_range,omitempty"`
	Tie        bool    `json:"tie,omitempty"` // RatioRange holds 1.0 (no RatioRange: the subjects' ranges overlap)
	// Busy is each subject's per-round CPU busy shares (busy.go).
	Busy  map[string]*Busy `json:"busy,omitempty"`
	peers []string         // compared with krbfarm; nil = HAProxy and nginx
}

// Results is everything make bench prints, and the JSON it writes.
type Results struct {
	Machine  map[string]string `json:"machine"`
	Settings map[string]string `json:"settings"`
	Metrics  []*Metric         `json:"metrics"`
	Notes    []string          `json:"notes,omitempty"`
	Soak     *Soak             `json:"soak,omitempty"` // make authbench with BENCH_SOAK
	// Served is make farmbench's requests answered per host (X-Backend),
	// per load and subject, over every round.
	Served map[string]map[string]map[string]int `json:"served,omitempty"`
}

func newMetric(name, unit, better string) *Metric {
	return &Metric{Name: name, Unit: unit, Better: better, Values: map[string]float64{},
		Ranges: map[string]Range{}, Rounds: map[string][]float64{}, Notes: map[string]string{}}
}

// set records one round's figure v for subject and updates its median
// and range; note, if not empty, goes next to it.
func (m *Metric) set(subject string, v float64, note string) {
	m.Rounds[subject] = append(m.Rounds[subject], v)
	m.Values[subject] = median(m.Rounds[subject])
	m.Ranges[subject] = span(m.Rounds[subject])
	if note != "" {
		m.Notes[subject] = note
	}
}

// fail records that one round of subject's produced no figure; the
// rounds that did still count.
func (m *Metric) fail(subject string, err error) {
	if m.Skipped == nil {
		m.Skipped = map[string][]int{}
	}
	m.Skipped[subject] = append(m.Skipped[subject], len(m.Rounds[subject])+len(m.Skipped[subject]))
	m.Notes[subject] = "failed: " + err.Error()
	if n := len(m.Rounds[subject]); n > 0 {
		m.Notes[subject] = fmt.Sprintf("a round failed (%d succeeded): %v", n, err)
	}
}

// rate reports whether a beats b for this metric.
func (m *Metric) beats(a, b float64) bool {
	if m.Better == lower {
		return a < b
	}
	return a > b
}

// computeRatio fills RoundRatios, BestPeer, Ratio, RatioRange and Tie:
// the best peer is the one with the best median; the ratio is krbfarm's
// over it, so above 1.0 is better for "higher" metrics and worse for
// "lower" ones: the median of the paired per-round ratios, a tie when
// their range holds 1.0 (without pairs: the ratio of medians, a tie when
// the two subjects' ranges overlap).
func (m *Metric) computeRatio() {
	m.BestPeer, m.Ratio, m.Tie, m.RatioRange = "", 0, false, nil
	ps := peers
	if m.peers != nil {
		ps = m.peers
	}
	m.pairPeers(ps)
	defer m.applyPaired()
	for _, p := range ps {
		v, ok := m.Values[p]
		if !ok || v <= 0 {
			continue
		}
		if m.BestPeer == "" || m.beats(v, m.Values[m.BestPeer]) {
			m.BestPeer = p
		}
	}
	k, ok := m.Values[subjKrbfarm]
	if m.BestPeer == "" || !ok {
		return
	}
	m.Ratio = k / m.Values[m.BestPeer]
	m.Tie = m.rangeOf(subjKrbfarm).overlaps(m.rangeOf(m.BestPeer))
}

// rangeOf is subject's range, or [v, v] when only its value was set.
func (m *Metric) rangeOf(subject string) Range {
	if r, ok := m.Ranges[subject]; ok {
		return r
	}
	v := m.Values[subject]
	return Range{v, v}
}

// formatValue prints v in a width-friendly way for its unit.
func formatValue(v float64, unit string) string {
	switch unit {
	case "req/s", "conn/s", "hs/s":
		if v >= 10000 {
			return fmt.Sprintf("%.1fk", v/1000)
		}
		return fmt.Sprintf("%.0f", v)
	case "GB/s", "ms":
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// formatRatio prints "0.85x nginx (0.81..0.88)", "1.01x nginx (0.98..1.04,
// tie)", "1.04x nginx (tie: ranges overlap)" for a file without paired
// ratios, or "-" when there is no ratio.
func formatRatio(m *Metric) string {
	if m.Ratio == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.2fx %s", m.Ratio, m.BestPeer)
	switch r := ratioRange(m); {
	case r != "" && m.Tie:
		return s + " (" + r + ", tie)"
	case r != "":
		return s + " (" + r + ")"
	case m.Tie && m.RatioRange == nil:
		return s + " (tie: ranges overlap)"
	case m.Tie:
		return s + " (tie)"
	}
	return s
}

// ratioRange is "0.81..0.88", the paired ratios' range, or "" when there
// is none or one round only.
func ratioRange(m *Metric) string {
	if m.RatioRange == nil || len(m.RoundRatios[m.BestPeer].Rounds) < 2 {
		return ""
	}
	return fmt.Sprintf("%.2f..%.2f", m.RatioRange.min(), m.RatioRange.max())
}

// formatCell prints a subject's median and, after more than one round,
// its range: "72.1k (70.2k..74.0k)"; "-" when it has no figure, and mark
// after it when it has a note.
func formatCell(m *Metric, s, mark string) string {
	cell := "-"
	if v, ok := m.Values[s]; ok {
		cell = formatValue(v, m.Unit)
		if len(m.Rounds[s]) > 1 {
			cell += " (" + formatRange(m.Ranges[s], m.Unit) + ")"
		}
	}
	if m.Notes[s] != "" {
		cell += mark
	}
	return cell
}

// writeTable prints the metrics as an aligned text table, a column per
// subject.
func writeTable(w io.Writer, subjects []string, metrics []*Metric) {
	head := append([]string{"metric", "unit"}, subjects...)
	head = append(head, "krbfarm/best peer", "better")
	rows := [][]string{head}
	for _, m := range metrics {
		row := []string{m.Name, m.Unit}
		for _, s := range subjects {
			row = append(row, formatCell(m, s, "*"))
		}
		rows = append(rows, append(row, formatRatio(m), m.Better))
	}
	printAligned(w, rows)
	for _, m := range metrics {
		for _, s := range subjects {
			if n := m.Notes[s]; n != "" {
				fmt.Fprintf(w, "  * %s, %s: %s\n", m.Name, s, n)
			}
		}
	}
	for _, m := range metrics {
		for _, s := range subjects {
			if n := m.busyNote(s); n != "" {
				fmt.Fprintf(w, "  %s, %s: %s\n", m.Name, s, n)
			}
		}
	}
}

func printAligned(w io.Writer, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			fmt.Fprintf(&b, "%-*s", widths[i], c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// writeJSON writes r to path, indented, atomically enough for a bench.
func writeJSON(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
