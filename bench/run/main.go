// Command run is make bench: krbfarm lb, HAProxy (mode tcp) and nginx
// stream side by side on loopback, in front of the same nginx origin,
// driven by the same wrk, in one run. It prints a table of absolute
// figures and krbfarm's ratio to the best peer, and writes it as JSON.
//
//	go run ./bench/run -out bench/results.json
//
// bench/bench.sh installs the tools and raises the fd limit first.
// BENCH_DURATION (e.g. 2s), BENCH_PIN (1 or 0), BENCH_IDLE_CONNS and
// BENCH_ENGINES (e.g. epoll,goroutine) set the defaults of -duration,
// -pin, -idle-conns and -engines.
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
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	out, krbfarm string
	pids         string
	duration     time.Duration
	pin          bool
	idleConns    int
	keep         bool
	engines      []string // krbfarm relay engines: the first is the "krbfarm" column, each other one a "krbfarm-<engine>" column
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "holder" {
		os.Exit(holderMain(os.Args[2:]))
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
	fs.DurationVar(&o.duration, "duration", envDuration("BENCH_DURATION", 5*time.Second), "each measured wrk run (env BENCH_DURATION)")
	fs.BoolVar(&o.pin, "pin", envBool("BENCH_PIN", runtime.NumCPU() >= 2), "pin balancers to CPU 1, origin and load to CPU 0, one worker each (env BENCH_PIN)")
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
	if o.duration < time.Second {
		return o, fmt.Errorf("-duration %v: wrk needs at least 1s", o.duration)
	}
	return o, nil
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

func envBool(name string, def bool) bool {
	if b, err := strconv.ParseBool(os.Getenv(name)); err == nil {
		return b
	}
	return def
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// run does the whole bench; every process it starts is stopped on return.
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
	ps := &procs{dir: dir, pidFile: o.pids}
	if ps.pidFile == "" {
		ps.pidFile = filepath.Join(dir, "pids")
	}
	defer ps.stopAll()
	e, err := newEnv(ps, dir, o)
	if err != nil {
		return err
	}
	res := &Results{Machine: machine(o.krbfarm), Settings: map[string]string{}}
	printHeader(res, e, o)
	if err := e.benchAll(ctx, o, res); err != nil {
		return err
	}
	for _, m := range res.Metrics {
		m.computeRatio()
	}
	fmt.Println()
	writeTable(os.Stdout, e.subjects(), res.Metrics)
	for _, n := range res.Notes {
		fmt.Println("  note:", n)
	}
	if err := writeJSON(o.out, res); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Println("\nresults written to", o.out)
	return nil
}
