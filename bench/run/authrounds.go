package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// The auth bench's loads.
var (
	authNewConn   = authLoad{name: "new connection per request", keepAlive: false}
	authKeepAlive = authLoad{name: "keep-alive, fresh token per request", keepAlive: true}
)

// maxPool caps the tokens built before a run (each about 1-2 KB).
const maxPool = 100_000

// roundSpec is what the interleaved rounds of an authenticated bench
// need: make authbench's hosts or make farmbench's farms.
type roundSpec struct {
	duration      time.Duration
	rounds, conns int
	subjects      []string // in each round's order; krbfarm first
	peer          string   // the subject krbfarm is compared with
	cpuName       string   // the servers' CPU line: "host CPU", "farm CPU"
}

// benchLoads runs both loads in interleaved rounds and appends their
// metrics to res, and the requests each host answered to res.Served.
func benchLoads(ctx context.Context, sp roundSpec, targets map[string]authTarget, maker *tokenMaker, res *Results) {
	pool := &tokenPool{maker: maker}
	for _, l := range []authLoad{authNewConn, authKeepAlive} {
		l.conns = sp.conns
		ms := newAuthMetrics(l.name, sp.peer, sp.cpuName)
		est := map[string]float64{}
		for round := range sp.rounds {
			for _, s := range sp.subjects {
				if ctx.Err() != nil {
					return
				}
				if round == 0 { // warm-up; its rate sizes the token pool
					_ = pool.fill(0)
					est[s] = runAuthLoad(ctx, targets[s], l, time.Second, pool).rate()
				}
				r := authRound(ctx, sp.duration, targets[s], l, pool, est[s], ms.record(s))
				res.addServed(l.name, s, r.served)
				if r := ms.rps.Rounds[s]; len(r) > 0 {
					est[s] = max(est[s], r[len(r)-1])
				}
				fmt.Printf("  %d/%d %-36s %-15s %s\n", round+1, sp.rounds, l.name, s, ms.line(s))
			}
		}
		res.Metrics = append(res.Metrics, ms.all()...)
	}
}

// addServed adds one run's requests per host to r.Served.
func (r *Results) addServed(load, subject string, served map[string]int) {
	if r.Served == nil {
		r.Served = map[string]map[string]map[string]int{}
	}
	if r.Served[load] == nil {
		r.Served[load] = map[string]map[string]int{}
	}
	if r.Served[load][subject] == nil {
		r.Served[load][subject] = map[string]int{}
	}
	for h, n := range served {
		r.Served[load][subject][h] += n
	}
}

// authRound fills the pool for twice the expected requests, runs
// the load and measures both sides' CPU; it returns the run's outcome.
func authRound(ctx context.Context, d time.Duration, t authTarget, l authLoad, pool *tokenPool, est float64, record func(authResult, time.Duration, time.Duration, error)) authResult {
	n := min(maxPool, int(2*est*d.Seconds())+l.conns)
	if err := pool.fill(n); err != nil {
		record(authResult{}, 0, 0, err)
		return authResult{}
	}
	host := startCPU(t.pids...)
	self0, _ := selfCPU()
	r := runAuthLoad(ctx, t, l, d, pool)
	self1, _ := selfCPU()
	hcpu, err1 := host.used()
	scpu := self1 - self0
	switch {
	case err1 != nil:
		record(r, 0, 0, err1)
	case r.ok == 0:
		record(r, 0, 0, fmt.Errorf("no request succeeded: %v", r.firstErr))
	default:
		record(r, hcpu, scpu, nil)
	}
	return r
}

// selfCPU is the bench process's own CPU so far (the load generator),
// without its children (the hosts).
func selfCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// authMetrics are one load's lines of the table.
type authMetrics struct {
	rps, p50, p99, cpu, load *Metric
}

func newAuthMetrics(name, peer, cpuName string) *authMetrics {
	ms := &authMetrics{
		rps:  newMetric(name, "req/s", higher),
		p50:  newMetric(name+": latency p50", "ms", lower),
		p99:  newMetric(name+": latency p99", "ms", lower),
		cpu:  newMetric(name+": "+cpuName, "µs/req", lower),
		load: newMetric(name+": load generator CPU", "µs/req", lower),
	}
	for _, m := range ms.all() {
		m.peers = []string{peer}
	}
	return ms
}

func (ms *authMetrics) all() []*Metric { return []*Metric{ms.rps, ms.p50, ms.p99, ms.cpu, ms.load} }

// record returns the recorder of subject s's rounds.
func (ms *authMetrics) record(s string) func(authResult, time.Duration, time.Duration, error) {
	return func(r authResult, host, self time.Duration, err error) {
		if err != nil {
			for _, m := range ms.all() {
				m.fail(s, err)
			}
			return
		}
		var notes []string
		if r.failed > 0 {
			notes = append(notes, fmt.Sprintf("%d requests failed (%d succeeded), first: %v", r.failed, r.ok, r.firstErr))
		}
		if r.inline > 0 {
			notes = append(notes, fmt.Sprintf("%d tokens built during the run (the pool ran dry)", r.inline))
		}
		note := strings.Join(notes, "; ")
		ms.rps.set(s, r.rate(), note)
		ms.p50.set(s, float64(r.p50)/float64(time.Millisecond), "")
		ms.p99.set(s, float64(r.p99)/float64(time.Millisecond), "")
		ms.cpu.set(s, perOp(host, float64(r.ok)), "")
		ms.load.set(s, perOp(self, float64(r.ok)), "")
	}
}

// line is subject s's last round, for the progress output.
func (ms *authMetrics) line(s string) string {
	last := func(m *Metric) float64 {
		r := m.Rounds[s]
		if len(r) == 0 {
			return 0
		}
		return r[len(r)-1]
	}
	if len(ms.rps.Rounds[s]) == 0 {
		return "failed: " + ms.rps.Notes[s]
	}
	return fmt.Sprintf("%8.0f req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %6.1f µs/req  load CPU %6.1f µs/req %s",
		last(ms.rps), last(ms.p50), last(ms.p99), last(ms.cpu), last(ms.load), ms.rps.Notes[s])
}
