package backend

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"
)

func TestReplayAcrossSites(t *testing.T) {
	f := newFixture(t)
	s1, _ := newSite(t, "server1", f.siteKT, nil)
	s2, logs2 := newSite(t, "server2", f.siteKT, nil)
	tok := mint(t, ticketSpec{kdc: f.kdc})
	steps := []struct {
		name   string
		site   *Site
		status int
	}{
		{"first use on server1", s1, 200},
		{"replay to server1", s1, 401},
		{"replay to server2 (per-host cache)", s2, 200},
		{"second replay to server2", s2, 401},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if w := get(st.site, tok); w.Code != st.status {
				t.Fatalf("status = %d; want %d", w.Code, st.status)
			}
		})
	}
	checkWarn(t, logs2, ReasonRepeat, tok)
}

func TestReplayCache(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	k := func(i int) replayKey { return makeReplayKey("alice@R", t0, i, "HTTP/x@R") }
	fill := func(c *ReplayCache, at time.Time) {
		for i := range 3 {
			c.Record(k(i), at)
		}
	}
	tests := []struct {
		name string
		run  func(c *ReplayCache) error // returns the last Record result
		want error
		len  int
	}{
		{"new", func(c *ReplayCache) error { return c.Record(k(1), t0) }, nil, 1},
		{"repeat", func(c *ReplayCache) error { c.Record(k(1), t0); return c.Record(k(1), t0.Add(time.Second)) }, ErrReplay, 1},
		{"expired is new", func(c *ReplayCache) error {
			c.Record(k(1), t0)
			return c.Record(k(1), t0.Add(11*time.Minute))
		}, nil, 1},
		// Regression: a full cache evicted unexpired authenticators, so a
		// flood of new ones made room to replay an old one.
		{"full: new refused", func(c *ReplayCache) error { fill(c, t0); return c.Record(k(3), t0) }, ErrReplayCacheFull, 3},
		{"full: flood then replay still refused", func(c *ReplayCache) error {
			fill(c, t0)
			for i := 3; i < 100; i++ {
				c.Record(k(i), t0)
			}
			return c.Record(k(0), t0.Add(time.Minute))
		}, ErrReplay, 3},
		{"full: room once entries expire", func(c *ReplayCache) error {
			fill(c, t0)
			c.Record(k(3), t0.Add(5*time.Minute))
			return c.Record(k(3), t0.Add(10*time.Minute))
		}, nil, 1},
		{"pruned on insert", func(c *ReplayCache) error {
			c.Record(k(1), t0)
			c.Record(k(2), t0)
			return c.Record(k(3), t0.Add(time.Hour))
		}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewReplayCache(10*time.Minute, 3)
			if got := tt.run(c); got != tt.want {
				t.Errorf("Record = %v; want %v", got, tt.want)
			}
			if got := c.Len(); got != tt.len {
				t.Errorf("Len = %d; want %d", got, tt.len)
			}
		})
	}
}

// A site whose replay cache is full refuses new tickets with
// REPLAY_CACHE_FULL, logs it, counts it and writes a 4625.
func TestReplayCacheFullRefuses(t *testing.T) {
	f := newFixture(t)
	s, logs := newSite(t, "server1", f.siteKT, func(c *Config) { c.ReplayCacheSize = 2 })
	for i := range 2 {
		if w := get(s, mint(t, ticketSpec{kdc: f.kdc})); w.Code != 200 {
			t.Fatalf("ticket %d: status %d; want 200", i+1, w.Code)
		}
	}
	tok := mint(t, ticketSpec{kdc: f.kdc})
	if w := get(s, tok); w.Code != 401 {
		t.Fatalf("ticket 3 on a full cache: status %d; want 401", w.Code)
	}
	checkWarn(t, logs, ReasonReplayCacheFull, tok)
	if got := s.Stats().Refusals[ReasonReplayCacheFull]; got != 1 {
		t.Errorf("Stats().Refusals[%s] = %d; want 1", ReasonReplayCacheFull, got)
	}
}

func TestReplayCacheConcurrent(t *testing.T) {
	c := NewReplayCache(time.Minute, 1000)
	t0 := time.Unix(1700000000, 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if c.Record(makeReplayKey("u", t0, i, "s"), t0.Add(time.Duration(g))) == nil {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if fresh != 500 {
		t.Errorf("fresh = %d; want 500 (each key new exactly once)", fresh)
	}
}

// TestReplayCacheQueueStaysBounded churns a full cache (entries expiring
// as fast as new ones arrive) and checks that the expiry queue reuses its
// consumed front instead of doubling: in a 10-minute soak at full load
// the queue's reallocation put 60 MiB on the host's RSS.
func TestReplayCacheQueueStaysBounded(t *testing.T) {
	const max, rate, ttl = 20000, 1900, 10 * time.Second
	c := NewReplayCache(ttl, max)
	start := time.Unix(1e9, 0)
	var k replayKey
	n := uint64(0)
	peak := 0
	for sec := 0; sec < 60; sec++ {
		for i := 0; i < rate; i++ {
			n++
			binary.BigEndian.PutUint64(k[:], n)
			now := start.Add(time.Duration(sec)*time.Second + time.Duration(i)*time.Second/rate)
			if err := c.Record(k, now); err != nil {
				t.Fatalf("entry %d at %ds: %v (the cache holds %d of %d)", n, sec, err, c.Len(), max)
			}
		}
		peak = builtinMax(peak, cap(c.queue))
	}
	if c.Len() > max {
		t.Fatalf("cache holds %d, over its max %d", c.Len(), max)
	}
	// Live entries never exceed max; the queue may hold a consumed front
	// of up to an eighth of its capacity, plus append's headroom.
	if limit := max * 3 / 2; peak > limit {
		t.Errorf("expiry queue grew to a capacity of %d entries for at most %d live ones (limit %d)", peak, max, limit)
	}
}

func builtinMax(a, b int) int { return max(a, b) }
