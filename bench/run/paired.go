package main

import (
	"math"
	"strings"
)

// Paired per-round ratios. One interleaved round runs every subject once,
// back to back, so the machine's state (another tenant's build, the CPU's
// clock) is about the same for all of them within a round but not from
// one round, or one run, to the next. krbfarm_i / peer_i within round i
// cancels that common-mode drift: two runs whose absolute medians moved
// by 15% still agree on the ratio. The headline ratio is the median of
// these per-round ratios to the best peer, with their min..max; a tie
// when that range contains 1.0.

// pairedRule is the method, for the results' settings.
const pairedRule = "the ratio krbfarm/peer is the median (min..max) of the per-round ratios krbfarm_i/peer_i, which cancel the machine's drift common to a round; a tie when that range holds 1.0"

// Paired is krbfarm's per-round ratios to one peer.
type Paired struct {
	Rounds []float64 `json:"rounds"` // krbfarm_i / peer_i, for the rounds both have
	Median float64   `json:"median"`
	Range  Range     `json:"range"` // min..max of Rounds
}

// pairRatios divides k by p round by round; NaN marks a round a subject
// has no figure for, and such rounds are left out, as are peers' zeros.
// Runs of different lengths cannot be paired: nil.
func pairRatios(k, p []float64) []float64 {
	if len(k) != len(p) {
		return nil
	}
	var out []float64
	for i := range k {
		if math.IsNaN(k[i]) || math.IsNaN(p[i]) || p[i] <= 0 {
			continue
		}
		out = append(out, k[i]/p[i])
	}
	return out
}

// newPaired summarises ratios; nil for none.
func newPaired(ratios []float64) *Paired {
	if len(ratios) == 0 {
		return nil
	}
	return &Paired{Rounds: ratios, Median: median(ratios), Range: span(ratios)}
}

// contains reports whether v lies in r (ends included).
func (r Range) contains(v float64) bool { return r.min() <= v && v <= r.max() }

// byRound is subject's figures indexed by round, NaN for a round it has
// no figure for (Skipped); nil when the subject has no round.
func (m *Metric) byRound(subject string) []float64 {
	got, skipped := m.Rounds[subject], m.Skipped[subject]
	if len(got) == 0 {
		return nil
	}
	out := make([]float64, 0, len(got)+len(skipped))
	for i, j := 0, 0; i < len(got) || j < len(skipped); {
		if j < len(skipped) && skipped[j] == len(out) {
			out, j = append(out, math.NaN()), j+1
			continue
		}
		if i == len(got) {
			break // a skip index past the end: malformed; stop
		}
		out, i = append(out, got[i]), i+1
	}
	return out
}

// pairPeers fills RoundRatios: krbfarm's per-round ratios to each of
// peers that has a figure in a round krbfarm also has.
func (m *Metric) pairPeers(peers []string) {
	m.RoundRatios = nil
	k := m.byRound(subjKrbfarm)
	if k == nil {
		return
	}
	for _, p := range peers {
		if pr := newPaired(pairRatios(k, m.byRound(p))); pr != nil {
			if m.RoundRatios == nil {
				m.RoundRatios = map[string]*Paired{}
			}
			m.RoundRatios[p] = pr
		}
	}
}

// applyPaired makes the headline ratio to BestPeer the paired one when
// there is one: its median, its range, a tie when the range holds 1.0.
// Without paired ratios (one subject's rounds missing from an old file)
// the ratio of medians and the overlap of ranges stand.
func (m *Metric) applyPaired() {
	m.RatioRange = nil
	pr := m.RoundRatios[m.BestPeer]
	if m.BestPeer == "" || pr == nil {
		return
	}
	r := pr.Range
	m.Ratio, m.RatioRange, m.Tie = pr.Median, &r, r.isTie()
}

// isTie reports whether a ratio range says "no difference": it holds 1.0,
// or both its ends show as 1.00 (9,700 idle connections costing nginx two
// descriptors fewer is not a loss worth a line).
func (r Range) isTie() bool {
	near := func(v float64) bool { return math.Abs(v-1) < 0.005 }
	return r.contains(1) || near(r.min()) && near(r.max())
}

// upgrade fills, in a results file written before paired ratios, each
// metric's paired ratios from its rounds; the peers are every subject
// but krbfarm's and direct.
func (r *Results) upgrade() {
	for _, m := range r.Metrics {
		if m.RatioRange != nil && !m.Tie && m.RatioRange.isTie() {
			m.Tie = true // a file written before ties to display precision
		}
		if m.RoundRatios != nil || m.BestPeer == "" {
			continue
		}
		var ps []string
		for _, s := range sortedKeys(m.Rounds) {
			if s != subjDirect && !isKrbfarm(s) {
				ps = append(ps, s)
			}
		}
		m.pairPeers(ps)
		m.applyPaired()
	}
}

// isKrbfarm reports whether s is krbfarm or one of its extra engines.
func isKrbfarm(s string) bool {
	return s == subjKrbfarm || strings.HasPrefix(s, subjKrbfarm+"-")
}
