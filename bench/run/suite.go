package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func newEnv(ps *procs, dir string, o options) (*env, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	tf, err := writeCert(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	e := &env{ps: ps, dir: dir, krbfarm: o.krbfarm, workers: runtime.NumCPU(), nofile: lim.Max, tls: tf, module: streamModule(),
		engines: map[string]string{}}
	for i, eng := range o.engines {
		subject := subjKrbfarm
		if i > 0 {
			subject += "-" + eng
		}
		e.engines[subject] = eng
		e.krbfarms = append(e.krbfarms, subject)
	}
	if o.pin {
		e.lbCPU, e.loadCPU, e.workers = "1", "0", 1
	}
	e.conns = idleTarget(o.idleConns, lim.Max) + connSlack
	return e, nil
}

// connSlack is how many connections beyond the idle test's the balancers
// are configured for (health checks, readiness probes).
const connSlack = 100

// idleTarget caps the idle test's connection count so that a balancer
// using two fds per proxied connection (HAProxy asks for 2*maxconn plus a
// few) fits in the fd limit.
func idleTarget(want int, nofile uint64) int {
	room := (int64(nofile)-400)/2 - connSlack
	return int(max(1, min(int64(want), room)))
}

func printHeader(res *Results, e *env, o options) {
	s := res.Settings
	s["duration"] = o.duration.String()
	s["load"] = "wrk -t1 -c50 (64 MiB bodies: -c4), a warm-up of 1s before each run"
	s["origin"] = fmt.Sprintf("nginx, %d worker(s), sendfile, files of %d B and 64 MiB", e.workers, smallSize)
	s["workers"] = fmt.Sprintf("%d per balancer (nginx worker_processes, HAProxy nbthread, Go GOMAXPROCS from affinity)", e.workers)
	s["pinning"] = "none: every process may run on every CPU"
	if e.lbCPU != "" {
		s["pinning"] = "taskset: balancers on CPU " + e.lbCPU + "; origin, wrk and the idle-test client on CPU " + e.loadCPU
	}
	s["idle_conns"] = strconv.Itoa(e.conns - connSlack)
	s["engines"] = strings.Join(o.engines, ",") + " (krbfarm passthrough: the first is the krbfarm column; TLS termination has one engine)"
	s["nofile"] = strconv.FormatUint(e.nofile, 10)
	fmt.Println("krbfarm bench: krbfarm lb vs HAProxy (mode tcp) vs nginx stream, loopback only")
	for _, k := range []string{"nproc", "cpu", "kernel", "go", "haproxy", "nginx", "wrk", "openssl", "krbfarm"} {
		fmt.Printf("  %-8s %s\n", k+":", res.Machine[k])
	}
	for _, k := range []string{"pinning", "workers", "origin", "load", "duration", "idle_conns", "nofile", "engines"} {
		fmt.Printf("  %-10s %s\n", k+":", s[k])
	}
	fmt.Println()
}

// benchAll runs every measurement and appends its metrics to res.
func (e *env) benchAll(ctx context.Context, o options, res *Results) error {
	_, origin, err := e.startOrigin(ctx)
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	bases, stop := e.startAll(ctx, e.balancers(), "plain", "http", origin, false)
	bases[subjDirect] = "http://" + origin
	e.plainRuns(ctx, o.duration, bases, res)
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// TLS termination has one engine: extra krbfarm columns would repeat
	// the krbfarm one.
	tlsBases, stop := e.startAll(ctx, []string{subjKrbfarm, subjHAProxy, subjNginx}, "tls", "https", origin, true)
	e.tlsRuns(ctx, o.duration, tlsBases, res)
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e.idleRuns(ctx, res)
	return ctx.Err()
}

// startAll starts balancers in front of origin; bases maps each one
// that started to its base URL, and one that failed to "".
func (e *env) startAll(ctx context.Context, balancers []string, tag, scheme, origin string, withTLS bool) (map[string]string, func()) {
	bases := map[string]string{}
	var started []*proc
	for _, b := range balancers {
		p, addr, err := e.startLB(ctx, b, tag, origin, withTLS, func(addr string) func() error {
			return httpOK(scheme + "://" + addr + "/small.txt")
		})
		if err != nil {
			fmt.Printf("  %s (%s) did not start: %v\n", b, tag, err)
			bases[b] = ""
			continue
		}
		started = append(started, p)
		bases[b] = scheme + "://" + addr
		if withTLS {
			fmt.Printf("  %-8s TLS: %s\n", b, tlsInfo(addr))
		}
	}
	return bases, func() {
		for _, p := range started {
			p.stop()
		}
	}
}

// runEach runs l against every subject in bases, in table order, after
// a 1s warm-up, and hands each result to record; a subject whose
// balancer did not start is recorded as failed.
func (e *env) runEach(ctx context.Context, name string, d time.Duration, bases map[string]string, l load, record func(string, wrkResult, error)) {
	for _, s := range e.subjects() {
		base, ok := bases[s]
		if ctx.Err() != nil {
			return
		}
		if !ok {
			continue
		}
		if base == "" {
			record(s, wrkResult{}, fmt.Errorf("%s did not start", s))
			continue
		}
		_, _ = e.runWrk(ctx, base, l, time.Second) // warm-up
		r, err := e.runWrk(ctx, base, l, d)
		if err == nil {
			fmt.Printf("  %-34s %-17s %10.0f req/s  %7.3f GB/s  p50 %6.2f ms  p99 %6.2f ms %s\n",
				name, s, r.rate(), r.gbPerSec(), r.P50US/1000, r.P99US/1000, r.errorNote())
		}
		record(s, r, err)
	}
}
