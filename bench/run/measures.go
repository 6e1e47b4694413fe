package main

import (
	"context"
	"fmt"
	"time"
)

// The loads of the table.
var (
	loadKeepAlive = load{path: "/small.txt", conns: 50, threads: 1, timeout: 2 * time.Second}
	loadClose     = load{path: "/small.txt", conns: 50, threads: 1, timeout: 2 * time.Second, close: true}
	loadBodies    = load{path: "/big.bin", conns: 4, threads: 1, timeout: 30 * time.Second}
)

// plainRuns measures the three plain-TCP loads.
func (e *env) plainRuns(ctx context.Context, o options, targets map[string]target, res *Results) {
	rps := newMetric("keep-alive small requests", "req/s", higher)
	p50 := newMetric("keep-alive latency p50", "ms", lower)
	p99 := newMetric("keep-alive latency p99", "ms", lower)
	rpsCPU := newMetric("keep-alive small requests: CPU", "µs/req", lower)
	e.runRounds(ctx, "keep-alive 128 B", o, targets, loadKeepAlive, func(s string, r wrkResult, cpu time.Duration, err error) {
		if err != nil {
			for _, m := range []*Metric{rps, p50, p99, rpsCPU} {
				m.fail(s, err)
			}
			return
		}
		rps.set(s, r.rate(), r.errorNote())
		rps.addBusy(s, r.busy)
		p50.set(s, r.P50US/1000, "")
		p99.set(s, r.P99US/1000, "")
		rpsCPU.set(s, perOp(cpu, r.Requests), "")
	})
	conn := newMetric("new TCP connection per request", "conn/s", higher)
	connCPU := newMetric("new TCP connection per request: CPU", "µs/conn", lower)
	e.runRounds(ctx, "Connection: close 128 B", o, targets, loadClose, recordRate(conn, connCPU))
	body := newMetric("64 MiB bodies", "GB/s", higher)
	bodyCPU := newMetric("64 MiB bodies: CPU", "ms/GB", lower)
	e.runRounds(ctx, "64 MiB bodies", o, targets, loadBodies, func(s string, r wrkResult, cpu time.Duration, err error) {
		if err != nil {
			body.fail(s, err)
			bodyCPU.fail(s, err)
			return
		}
		body.set(s, r.gbPerSec(), r.errorNote())
		body.addBusy(s, r.busy)
		bodyCPU.set(s, perOp(cpu, r.Bytes/1e9)/1000, "")
	})
	res.Metrics = append(res.Metrics, rps, p50, p99, rpsCPU, conn, connCPU, body, bodyCPU)
}

// tlsRuns measures new TLS connections per second.
func (e *env) tlsRuns(ctx context.Context, o options, targets map[string]target, res *Results) {
	hs := newMetric("TLS 1.3 new connection per request", "hs/s", higher)
	hsCPU := newMetric("TLS 1.3 new connection per request: CPU", "µs/hs", lower)
	e.runRounds(ctx, "TLS handshake + 128 B", o, targets, loadClose, recordRate(hs, hsCPU))
	res.Metrics = append(res.Metrics, hs, hsCPU)
}

// recordRate records a run's rate in m and its server's CPU per request
// in cpu.
func recordRate(m, cpu *Metric) func(string, wrkResult, time.Duration, error) {
	return func(s string, r wrkResult, used time.Duration, err error) {
		if err != nil {
			m.fail(s, err)
			cpu.fail(s, err)
			return
		}
		m.set(s, r.rate(), r.errorNote())
		m.addBusy(s, r.busy)
		cpu.set(s, perOp(used, r.Requests), "")
	}
}

// idleRuns measures memory and fds per idle proxied connection, one
// fresh balancer at a time.
func (e *env) idleRuns(ctx context.Context, rounds int, res *Results) {
	n := e.conns - connSlack
	mem := newMetric(fmt.Sprintf("idle connections (%d): memory", n), "KiB/conn", lower)
	fds := newMetric(fmt.Sprintf("idle connections (%d): fds", n), "fds/conn", lower)
	defer func() { res.Metrics = append(res.Metrics, mem, fds) }()
	for round := range rounds {
		if err := e.pinRound(round, nil); err != nil {
			for _, b := range e.balancers() {
				mem.fail(b, fmt.Errorf("round %d: %w", round+1, err))
				fds.fail(b, fmt.Errorf("round %d: %w", round+1, err))
			}
			continue
		}
		for _, b := range e.balancers() {
			if ctx.Err() != nil {
				return
			}
			e.idleRound(ctx, b, n, fmt.Sprintf("%d/%d", round+1, rounds), mem, fds)
		}
	}
}

// idleRound is one balancer's idle test, recorded in mem and fds.
func (e *env) idleRound(ctx context.Context, b string, n int, round string, mem, fds *Metric) {
	r, err := e.idleMemory(ctx, b, n)
	if err != nil {
		mem.fail(b, err)
		fds.fail(b, err)
		return
	}
	note := ""
	if r.reached < n {
		note = fmt.Sprintf("only %d of %d connections reached the origin", r.reached, n)
	}
	fmt.Printf("  %s %-28s %-17s %6d conns  RSS %7d -> %7d KiB  %5.1f KiB/conn  %.1f fds/conn %s\n",
		round, "idle connections", b, r.reached, r.beforeKiB, r.afterKiB, r.kibPerConn, r.fdsPerConn, note)
	mem.set(b, r.kibPerConn, note)
	fds.set(b, r.fdsPerConn, note)
}
