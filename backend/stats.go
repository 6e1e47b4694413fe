package backend

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Stats are a site's exact counters since it started. Log lines are
// never sampled, but some are rate-limited; the counters count every
// event.
type Stats struct {
	// Refusals counts refused tokens by reason (the log key "reason",
	// e.g. KRB_AP_ERR_MODIFIED, REPLAY_CACHE_FULL): one per
	// "negotiate refused" line.
	Refusals map[string]int64 `json:"refusals"`
	// ConnectionsRejected counts connections refused because the site held
	// Config.MaxConnections already.
	ConnectionsRejected int64 `json:"connections_rejected"`
	// ProxyHeadersRefused counts connections closed for their PROXY header:
	// one from an untrusted sender, a malformed one, or none where required.
	ProxyHeadersRefused int64 `json:"proxy_headers_refused"`
}

// counters holds a site's live counters.
type counters struct {
	mu           sync.Mutex
	refusals     map[string]int64
	connRejected atomic.Int64
	proxyRefused atomic.Int64
}

func (c *counters) refused(reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refusals == nil {
		c.refusals = make(map[string]int64)
	}
	c.refusals[reason]++
}

func (c *counters) snapshot() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Stats{Refusals: maps.Clone(c.refusals), ConnectionsRejected: c.connRejected.Load(), ProxyHeadersRefused: c.proxyRefused.Load()}
}

// Stats returns the site's counters.
func (s *Site) Stats() Stats { return s.stats.snapshot() }
