package main

import (
	"fmt"
	"slices"
)

// A metric's figures come from interleaved rounds (A B C A B C ...): one
// round is one run per subject, so a burst of noise from the machine's
// other tenants hits every subject about equally. These pure functions
// summarise the rounds.

// median is the middle of xs (the mean of the two middle ones for an even
// count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// span is the smallest and largest of xs; zeros for none.
func span(xs []float64) Range {
	if len(xs) == 0 {
		return Range{}
	}
	return Range{slices.Min(xs), slices.Max(xs)}
}

// Range is the min and max of a subject's rounds.
type Range [2]float64

func (r Range) min() float64 { return r[0] }
func (r Range) max() float64 { return r[1] }

// overlaps reports whether r and o share at least one value: then the
// rounds cannot tell the two subjects apart.
func (r Range) overlaps(o Range) bool {
	return r.min() <= o.max() && o.min() <= r.max()
}

// formatRange prints "70.2k..74.0k" in the unit's style.
func formatRange(r Range, unit string) string {
	return fmt.Sprintf("%s..%s", formatValue(r.min(), unit), formatValue(r.max(), unit))
}
