package main

import (
	"context"
	"fmt"
	"time"
)

// Soak is the krbfarm host's resident memory under a long full load,
// sampled every soakEvery: it must stay flat.
type Soak struct {
	Duration string       `json:"duration"`
	Requests int          `json:"requests"`
	Failed   int          `json:"failed"`
	Samples  []SoakSample `json:"samples"`
	GrowthKB int64        `json:"growth_kib"` // last sample minus the one after the first 10s (the warm-up's growth left out)
}

// SoakSample is one RSS reading.
type SoakSample struct {
	Seconds float64 `json:"s"`
	RSSKiB  int64   `json:"rss_kib"`
}

const soakEvery = 10 * time.Second

// soak runs keep-alive authenticated load (tokens built on the spot: a
// pool could not hold them all, nor stay inside the clock skew) against
// t for o.soak, reading its RSS every 10s.
func (a *authEnv) soak(ctx context.Context, o hostOptions, t authTarget, maker *tokenMaker) *Soak {
	fmt.Printf("\nsoak: %v of keep-alive load on the krbfarm host, RSS every %v\n", o.soak, soakEvery)
	s := &Soak{Duration: o.soak.String()}
	done := make(chan authResult, 1)
	l := authKeepAlive
	l.conns = o.conns
	go func() { done <- runAuthLoad(ctx, t, l, o.soak, &tokenPool{maker: maker}) }()
	start := time.Now()
	tick := time.NewTicker(soakEvery)
	defer tick.Stop()
	s.sample(t.pids[0], start)
	for {
		select {
		case r := <-done:
			s.sample(t.pids[0], start)
			s.Requests, s.Failed = r.ok, r.failed
			if n := len(s.Samples); n > 1 {
				s.GrowthKB = s.Samples[n-1].RSSKiB - s.Samples[1].RSSKiB
			}
			fmt.Printf("soak: %d requests (%d failed), RSS %+d KiB from the 10s sample to the last\n", s.Requests, s.Failed, s.GrowthKB)
			return s
		case <-tick.C:
			s.sample(t.pids[0], start)
		}
	}
}

func (s *Soak) sample(pid int, start time.Time) {
	rss, _, err := treeStat(pid)
	if err != nil {
		return
	}
	at := time.Since(start).Seconds()
	s.Samples = append(s.Samples, SoakSample{Seconds: at, RSSKiB: rss})
	fmt.Printf("  soak %6.0fs  RSS %7d KiB\n", at, rss)
}
