package backend

import (
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
	tests := []struct {
		name string
		run  func(c *ReplayCache) bool // returns the last Seen result
		want bool
		len  int
	}{
		{"new", func(c *ReplayCache) bool { return c.Seen(k(1), t0) }, false, 1},
		{"repeat", func(c *ReplayCache) bool { c.Seen(k(1), t0); return c.Seen(k(1), t0.Add(time.Second)) }, true, 1},
		{"expired is new", func(c *ReplayCache) bool {
			c.Seen(k(1), t0)
			return c.Seen(k(1), t0.Add(11*time.Minute))
		}, false, 1},
		{"bounded, oldest evicted", func(c *ReplayCache) bool {
			for i := range 5 {
				c.Seen(k(i), t0)
			}
			return c.Seen(k(0), t0)
		}, false, 3},
		{"pruned on insert", func(c *ReplayCache) bool {
			c.Seen(k(1), t0)
			c.Seen(k(2), t0)
			return c.Seen(k(3), t0.Add(time.Hour))
		}, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewReplayCache(10*time.Minute, 3)
			if got := tt.run(c); got != tt.want {
				t.Errorf("Seen = %v; want %v", got, tt.want)
			}
			if got := c.Len(); got != tt.len {
				t.Errorf("Len = %d; want %d", got, tt.len)
			}
		})
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
				if !c.Seen(makeReplayKey("u", t0, i, "s"), t0.Add(time.Duration(g))) {
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
