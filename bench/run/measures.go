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
func (e *env) plainRuns(ctx context.Context, d time.Duration, bases map[string]string, res *Results) {
	rps := newMetric("keep-alive small requests", "req/s", higher)
	p50 := newMetric("keep-alive latency p50", "ms", lower)
	p99 := newMetric("keep-alive latency p99", "ms", lower)
	e.runEach(ctx, "keep-alive 128 B", d, bases, loadKeepAlive, func(s string, r wrkResult, err error) {
		if err != nil {
			rps.fail(s, err)
			p50.fail(s, err)
			p99.fail(s, err)
			return
		}
		rps.set(s, r.rate(), r.errorNote())
		p50.set(s, r.P50US/1000, "")
		p99.set(s, r.P99US/1000, "")
	})
	conn := newMetric("new TCP connection per request", "conn/s", higher)
	e.runEach(ctx, "Connection: close 128 B", d, bases, loadClose, recordRate(conn))
	body := newMetric("64 MiB bodies", "GB/s", higher)
	e.runEach(ctx, "64 MiB bodies", d, bases, loadBodies, func(s string, r wrkResult, err error) {
		if err != nil {
			body.fail(s, err)
			return
		}
		body.set(s, r.gbPerSec(), r.errorNote())
	})
	res.Metrics = append(res.Metrics, rps, p50, p99, conn, body)
}

// tlsRuns measures new TLS connections per second.
func (e *env) tlsRuns(ctx context.Context, d time.Duration, bases map[string]string, res *Results) {
	hs := newMetric("TLS 1.3 new connection per request", "hs/s", higher)
	e.runEach(ctx, "TLS handshake + 128 B", d, bases, loadClose, recordRate(hs))
	res.Metrics = append(res.Metrics, hs)
}

func recordRate(m *Metric) func(string, wrkResult, error) {
	return func(s string, r wrkResult, err error) {
		if err != nil {
			m.fail(s, err)
			return
		}
		m.set(s, r.rate(), r.errorNote())
	}
}

// idleRuns measures memory and fds per idle proxied connection, one
// fresh balancer at a time.
func (e *env) idleRuns(ctx context.Context, res *Results) {
	n := e.conns - connSlack
	mem := newMetric(fmt.Sprintf("idle connections (%d): memory", n), "KiB/conn", lower)
	fds := newMetric(fmt.Sprintf("idle connections (%d): fds", n), "fds/conn", lower)
	for _, b := range e.balancers() {
		if ctx.Err() != nil {
			return
		}
		r, err := e.idleMemory(ctx, b, n)
		if err != nil {
			mem.fail(b, err)
			fds.fail(b, err)
			continue
		}
		note := ""
		if r.reached < n {
			note = fmt.Sprintf("only %d of %d connections reached the origin", r.reached, n)
		}
		fmt.Printf("  %-34s %-17s %6d conns  RSS %7d -> %7d KiB  %5.1f KiB/conn  %.1f fds/conn %s\n",
			"idle connections", b, r.reached, r.beforeKiB, r.afterKiB, r.kibPerConn, r.fdsPerConn, note)
		mem.set(b, r.kibPerConn, note)
		fds.set(b, r.fdsPerConn, note)
	}
	res.Metrics = append(res.Metrics, mem, fds)
}
