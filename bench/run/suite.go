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

func newEnv(ps *procs, dir string, o options, layout string) (*env, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return nil, err
	}
	tf, err := writeCert(dir)
	if err != nil {
		return nil, fmt.Errorf("certificate: %w", err)
	}
	e := &env{ps: ps, dir: dir, krbfarm: o.krbfarm, workers: runtime.NumCPU(), nofile: lim.Max, tls: tf, module: streamModule(),
		engines: map[string]string{}, layout: layout}
	for i, eng := range o.engines {
		subject := subjKrbfarm
		if i > 0 {
			subject += "-" + eng
		}
		e.engines[subject] = eng
		e.krbfarms = append(e.krbfarms, subject)
	}
	if layout == layoutPinned {
		e.lbCPU, e.loadCPU = pinnedCPUs(0)
		e.workers = 1
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

func printHeader(res *Results, o options, conns int, nofile uint64) {
	s := res.Settings
	s["duration"] = o.duration.String()
	s["rounds"] = fmt.Sprintf("%d, interleaved: each round runs every subject once, in turn (A B C A B C ...); the table shows each subject's median and min..max; %s", o.rounds, pairedRule)
	s["busy"] = busyRule
	s["load"] = "wrk -t1 -c50 (64 MiB bodies: -c4), a warm-up of 1s before each subject's first round"
	s["cpu"] = "utime+stime of each server process (with its children) from /proc/PID/stat, read just before and after each wrk run, divided by the requests wrk completed (64 MiB bodies: by the GB moved); a balancer's figure is its own CPU, not the origin's"
	s["origin"] = fmt.Sprintf("nginx, sendfile, files of %d B and 64 MiB", smallSize)
	s["workers"] = "pinned: 1 per server; unpinned: 1 per CPU (nginx worker_processes, HAProxy nbthread, Go GOMAXPROCS from affinity; krbfarm lb in passthrough runs its event loops on half the CPUs, at least 1, see docs/lb.md)"
	s["layouts"] = strings.Join(o.layouts, ",")
	s["pinning "+layoutPinned] = "taskset: balancers on one CPU; origin, wrk and the idle-test client on the other; one worker each; the two CPUs swap every round (balancers on CPU 1 in rounds 1, 3, 5, ..., on CPU 0 in rounds 2, 4, 6, ...), so that a drift of one CPU's speed against the other's falls inside each run's range"
	s["pinning "+layoutUnpinned] = fmt.Sprintf("none: every process may run on every CPU; %d workers each", runtime.NumCPU())
	s["idle_conns"] = strconv.Itoa(conns)
	s["engines"] = strings.Join(o.engines, ",") + " (krbfarm passthrough: the first is the krbfarm column; TLS termination has one engine)"
	s["nofile"] = strconv.FormatUint(nofile, 10)
	fmt.Println("krbfarm bench: krbfarm lb vs HAProxy (mode tcp) vs nginx stream, loopback only")
	for _, k := range []string{"nproc", "cpu", "kernel", "go", "haproxy", "nginx", "wrk", "openssl", "krbfarm"} {
		fmt.Printf("  %-8s %s\n", k+":", res.Machine[k])
	}
	for _, k := range []string{"layouts", "rounds", "workers", "origin", "load", "cpu", "duration", "idle_conns", "nofile", "engines"} {
		fmt.Printf("  %-10s %s\n", k+":", s[k])
	}
	fmt.Println()
}

// benchAll runs every measurement in e's layout and appends its metrics
// to res.
func (e *env) benchAll(ctx context.Context, o options, res *Results) error {
	fmt.Printf("layout %s: %s\n", e.layout, res.Settings["pinning "+e.layout])
	n := len(res.Metrics)
	defer func() {
		for _, m := range res.Metrics[n:] {
			m.Layout = e.layout
		}
	}()
	op, origin, err := e.startOrigin(ctx)
	if err != nil {
		return fmt.Errorf("origin: %w", err)
	}
	targets, stop := e.startAll(ctx, e.balancers(), "plain", "http", origin, false)
	e.originPID = op.pid()
	targets[subjDirect] = target{url: "http://" + origin, pid: op.pid()}
	e.plainRuns(ctx, o, targets, res)
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// TLS termination has one engine: extra krbfarm columns would repeat
	// the krbfarm one.
	tlsTargets, stop := e.startAll(ctx, []string{subjKrbfarm, subjHAProxy, subjNginx}, "tls", "https", origin, true)
	e.tlsRuns(ctx, o, tlsTargets, res)
	stop()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	e.idleRuns(ctx, o.rounds, res)
	op.stop()
	return ctx.Err()
}

// target is a subject under load: its base URL ("" when it did not start)
// and the PID whose CPU it spends.
type target struct {
	url string
	pid int
}

// startAll starts balancers in front of origin; targets maps each one
// that started to its base URL and PID, and one that failed to a zero
// target.
func (e *env) startAll(ctx context.Context, balancers []string, tag, scheme, origin string, withTLS bool) (map[string]target, func()) {
	targets := map[string]target{}
	var started []*proc
	for _, b := range balancers {
		p, addr, err := e.startLB(ctx, b, tag, origin, withTLS, func(addr string) func() error {
			return httpOK(scheme + "://" + addr + "/small.txt")
		})
		if err != nil {
			fmt.Printf("  %s (%s) did not start: %v\n", b, tag, err)
			targets[b] = target{}
			continue
		}
		started = append(started, p)
		targets[b] = target{url: scheme + "://" + addr, pid: p.pid()}
		if withTLS {
			fmt.Printf("  %-8s TLS: %s\n", b, tlsInfo(addr))
		}
	}
	return targets, func() {
		for _, p := range started {
			p.stop()
		}
	}
}

// runRounds runs l against every subject in targets, in table order,
// o.rounds times (A B C A B C ...), each subject's first round after a 1s
// warm-up, and hands each run's result and the CPU its server spent to
// record; a subject whose balancer did not start is recorded as failed.
func (e *env) runRounds(ctx context.Context, name string, o options, targets map[string]target, l load, record func(string, wrkResult, time.Duration, error)) {
	var balancers []int
	for _, s := range e.balancers() {
		if t := targets[s]; t.pid > 0 && t.pid != e.originPID {
			balancers = append(balancers, t.pid)
		}
	}
	for round := range o.rounds {
		if err := e.pinRound(round, balancers); err != nil {
			for _, s := range e.subjects() {
				if _, ok := targets[s]; ok {
					record(s, wrkResult{}, 0, fmt.Errorf("round %d: %w", round+1, err))
				}
			}
			continue
		}
		for _, s := range e.subjects() {
			t, ok := targets[s]
			if ctx.Err() != nil {
				return
			}
			if !ok {
				continue
			}
			if t.url == "" {
				record(s, wrkResult{}, 0, fmt.Errorf("%s did not start", s))
				continue
			}
			if round == 0 {
				_, _ = e.runWrk(ctx, t.url, l, time.Second) // warm-up
			}
			r, cpu, err := e.measureWrk(ctx, t, l, o.duration)
			if err == nil {
				fmt.Printf("  %d/%d %-28s %-17s %10.0f req/s  %7.3f GB/s  p50 %6.2f ms  p99 %6.2f ms  CPU %6.1f µs/req %s\n",
					round+1, o.rounds, name, s, r.rate(), r.gbPerSec(), r.P50US/1000, r.P99US/1000, perOp(cpu, r.Requests), r.errorNote())
			}
			record(s, r, cpu, err)
		}
	}
}

// measureWrk runs wrk against t and reads t's CPU just before and after;
// it also sets r.busy from the origin's CPU and wrk's.
func (e *env) measureWrk(ctx context.Context, t target, l load, d time.Duration) (wrkResult, time.Duration, error) {
	m, origin := startCPU(t.pid), startCPU(e.originPID)
	start := time.Now()
	r, err := e.runWrk(ctx, t.url, l, d)
	if err != nil {
		return r, 0, err
	}
	wall := time.Since(start)
	cpu, err := m.used()
	if err != nil {
		return r, 0, fmt.Errorf("CPU of pid %d: %w", t.pid, err)
	}
	ocpu, err := origin.used()
	if err != nil {
		return r, 0, fmt.Errorf("CPU of the origin, pid %d: %w", e.originPID, err)
	}
	r.busy = e.busy(cpu, ocpu+r.cpu, wall, t.pid == e.originPID)
	return r, cpu, nil
}

// busy is a run's busy shares: the balancer's CPU and the load side's
// over wall, each of the CPUs it may use; direct has no balancer.
func (e *env) busy(balancer, load, wall time.Duration, direct bool) busyShares {
	ncpu := runtime.NumCPU()
	if e.lbCPU != "" {
		ncpu = 1 // pinned: one CPU each side
	}
	b := busyShares{balancer: busyShare(balancer, wall, ncpu), load: busyShare(load, wall, ncpu)}
	if direct {
		b.balancer = -1
	}
	return b
}
