//go:build !unix

package lb

// fdLimit is unknown off Unix.
func fdLimit() (uint64, bool) { return 0, false }
