// Command run is make bench: krbfarm lb, HAProxy (mode tcp) and nginx
// stream side by side on loopback, in front of the same nginx origin,
// driven by the same wrk, in one run. It prints a table of absolute
// figures and krbfarm's ratio to the best peer, and writes it as JSON.
//
//	go run ./bench/run -out bench/results.json
//
// bench/bench.sh installs the tools and raises the fd limit first.
// Every metric runs in interleaved rounds (A B C A B C ...) and the table
// shows each subject's median and min..max, and the CPU each server spent
// per request, in each layout (pinned, unpinned).
//
// BENCH_DURATION (3s), BENCH_ROUNDS (12), BENCH_LAYOUTS
// (pinned,unpinned), BENCH_PIN (1: pinned only, 0: unpinned only),
// BENCH_IDLE_CONNS and BENCH_ENGINES (e.g. epoll,goroutine) set the
// defaults of -duration, -rounds, -layouts, -idle-conns and -engines.
//
// "run auth" is make authbench (auth.go); "run farm" is make farmbench
// (farm.go); "run tables" prints the README's tables from the results
// files, "run tables -write" rewrites them in README.md (tables.go);
// "run agree A.json B.json" checks that two runs of the same commit
// agree (agree.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	out, krbfarm string
	pids         string
	duration     time.Duration
	rounds       int      // interleaved rounds per metric
	layouts      []string // layoutPinned, layoutUnpinned, in the order run
	idleConns    int
	keep         bool
	engines      []string // krbfarm relay engines: the first is the "krbfarm" column, each other one a "krbfarm-<engine>" column
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "holder" {
		os.Exit(holderMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "auth" {
		os.Exit(authMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "agree" {
		os.Exit(agreeMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "farm" {
		os.Exit(farmMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "tables" {
		os.Exit(tablesMain(os.Args[2:]))
	}
	o, err := parseOptions(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

func parseOptions(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bench/results.json", "where to write the results as JSON")
	fs.StringVar(&o.krbfarm, "krbfarm", "bin/krbfarm", "the krbfarm binary")
	fs.StringVar(&o.pids, "pids", "", "append \"PID name\" of every process started here (default: in the temp dir)")
	fs.DurationVar(&o.duration, "duration", envDuration("BENCH_DURATION", 3*time.Second), "each measured wrk run (env BENCH_DURATION)")
	fs.IntVar(&o.rounds, "rounds", envInt("BENCH_ROUNDS", 12), "interleaved rounds per metric (env BENCH_ROUNDS)")
	layouts := fs.String("layouts", envString("BENCH_LAYOUTS", defaultLayouts()), "pinned (balancers on CPU 1, origin and load on CPU 0, one worker each) and/or unpinned, comma-separated (env BENCH_LAYOUTS)")
	fs.IntVar(&o.idleConns, "idle-conns", envInt("BENCH_IDLE_CONNS", 10000), "idle connections per balancer (env BENCH_IDLE_CONNS)")
	fs.BoolVar(&o.keep, "keep", os.Getenv("BENCH_KEEP") != "", "keep the temp dir (configs, logs) (env BENCH_KEEP)")
	engines := fs.String("engines", envString("BENCH_ENGINES", "epoll"), "krbfarm passthrough engines, comma-separated: the first is the krbfarm column, others extra columns (env BENCH_ENGINES)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.engines, err = parseEngines(*engines); err != nil {
		return o, err
	}
	if o.layouts, err = parseLayouts(*layouts, runtime.NumCPU()); err != nil {
		return o, err
	}
	if o.duration < time.Second {
		return o, fmt.Errorf("-duration %v: wrk needs at least 1s", o.duration)
	}
	if o.rounds < 1 {
		return o, fmt.Errorf("-rounds %d: at least 1", o.rounds)
	}
	return o, nil
}

// defaultLayouts is both layouts on 2+ CPUs, unpinned on one; BENCH_PIN=1
// or 0 (what it meant before layouts) picks one.
func defaultLayouts() string {
	pin, err := strconv.ParseBool(os.Getenv("BENCH_PIN"))
	switch {
	case runtime.NumCPU() < 2:
		return layoutUnpinned
	case err != nil:
		return layoutPinned + "," + layoutUnpinned
	case pin:
		return layoutPinned
	}
	return layoutUnpinned
}

// parseLayouts checks a comma-separated list of layouts; pinned needs 2
// CPUs.
func parseLayouts(v string, ncpu int) ([]string, error) {
	var out []string
	for _, l := range strings.Split(v, ",") {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			continue
		case l != layoutPinned && l != layoutUnpinned:
			return nil, fmt.Errorf("-layouts: %q is not pinned or unpinned", l)
		case slices.Contains(out, l):
			return nil, fmt.Errorf("-layouts: %q twice", l)
		case l == layoutPinned && ncpu < 2:
			return nil, fmt.Errorf("-layouts: pinned needs 2 CPUs; this machine has %d", ncpu)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("-layouts: name pinned, unpinned or both")
	}
	return out, nil
}

// parseEngines checks a comma-separated list of krbfarm engines.
func parseEngines(v string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimSpace(e)
		switch {
		case e == "":
			continue
		case e != "auto" && e != "epoll" && e != "goroutine":
			return nil, fmt.Errorf("-engines: %q is not auto, epoll or goroutine", e)
		case seen[e]:
			return nil, fmt.Errorf("-engines: %q twice", e)
		}
		seen[e] = true
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, errors.New("-engines: name at least one of auto, epoll, goroutine")
	}
	return out, nil
}

func envString(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envDuration(name string, def time.Duration) time.Duration {
	v := os.Getenv(name)
	if d, err := time.ParseDuration(v); err == nil {
		return d
	}
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// run does the whole bench, one layout after the other; every process
// it starts is stopped on return.
func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "krbfarm-bench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // nginx workers run as nobody
		return err
	}
	if o.keep {
		fmt.Println("bench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	if o.pids == "" {
		o.pids = filepath.Join(dir, "pids")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	res := &Results{Machine: machine(o.krbfarm), Settings: map[string]string{}}
	printHeader(res, o, idleTarget(o.idleConns, lim.Max), lim.Max)
	var subjects []string
	for _, layout := range o.layouts {
		s, err := runLayout(ctx, o, filepath.Join(dir, layout), layout, res)
		if err != nil {
			return fmt.Errorf("layout %s: %w", layout, err)
		}
		subjects = s
	}
	report(res, subjects, o)
	if err := writeJSON(o.out, res); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Println("\nresults written to", o.out)
	return nil
}

// runLayout runs every measurement in one layout, in its own directory,
// and stops what it started; it returns the table's subjects.
func runLayout(ctx context.Context, o options, dir, layout string, res *Results) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ps := &procs{dir: dir, pidFile: o.pids}
	defer ps.stopAll()
	e, err := newEnv(ps, dir, o, layout)
	if err != nil {
		return nil, err
	}
	return e.subjects(), e.benchAll(ctx, o, res)
}

// report prints one table per layout, then the notes.
func report(res *Results, subjects []string, o options) {
	for _, m := range res.Metrics {
		m.computeRatio()
	}
	for _, layout := range o.layouts {
		var ms []*Metric
		for _, m := range res.Metrics {
			if m.Layout == layout {
				ms = append(ms, m)
			}
		}
		fmt.Printf("\n%s (%s), %d round(s) of %v; median (min..max):\n", layout, res.Settings["pinning "+layout], o.rounds, o.duration)
		writeTable(os.Stdout, subjects, ms)
	}
	for _, n := range res.Notes {
		fmt.Println("  note:", n)
	}
}
