package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"
)

// make authbench and make farmbench share their options, their entry and
// their setting: a temp dir Apache's children can read, the processes
// started, the pinning of this process (the load generator) to CPU 0.

// hostOptions are the options of `krbfarm-bench auth` and `farm`.
type hostOptions struct {
	out, krbfarm, pids string
	duration, soak     time.Duration // soak: auth only
	rounds, conns      int
	pin, keep          bool
}

// hostBench is one of the two benches.
type hostBench struct {
	name     string // "authbench": messages' prefix and the temp dir's
	command  string // "auth": the subcommand, its flag set's name
	out      string // -out's default
	connsEnv string // the env var of -conns' default
	soak     bool   // has -soak
}

var (
	authBench = hostBench{name: "authbench", command: "auth", out: "bench/authresults.json", connsEnv: "BENCH_AUTH_CONNS", soak: true}
	farmBench = hostBench{name: "farmbench", command: "farm", out: "bench/farmresults.json", connsEnv: "BENCH_FARM_CONNS"}
)

// main parses args and runs run until it returns or a signal comes: exit
// 2 on bad options, 1 when run fails.
func (hb hostBench) main(args []string, run func(context.Context, hostOptions) error) int {
	o, err := hb.parse(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, hb.name+":", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, hb.name+":", err)
		return 1
	}
	return 0
}

func (hb hostBench) parse(args []string) (hostOptions, error) {
	var o hostOptions
	fs := flag.NewFlagSet(hb.command, flag.ContinueOnError)
	fs.StringVar(&o.out, "out", hb.out, "where to write the results as JSON")
	fs.StringVar(&o.krbfarm, "krbfarm", "bin/krbfarm", "the krbfarm binary")
	fs.StringVar(&o.pids, "pids", "", "append \"PID name\" of every process started here (default: in the temp dir)")
	fs.DurationVar(&o.duration, "duration", envDuration("BENCH_DURATION", 5*time.Second), "each measured run (env BENCH_DURATION)")
	fs.IntVar(&o.rounds, "rounds", envInt("BENCH_ROUNDS", 5), "interleaved rounds per metric (env BENCH_ROUNDS)")
	fs.IntVar(&o.conns, "conns", envInt(hb.connsEnv, 32), "concurrent connections (env "+hb.connsEnv+")")
	if hb.soak {
		fs.DurationVar(&o.soak, "soak", envDuration("BENCH_SOAK", 0), "then run the krbfarm host at full load this long, its RSS sampled every 10s (env BENCH_SOAK, e.g. 10m)")
	}
	fs.BoolVar(&o.keep, "keep", os.Getenv("BENCH_KEEP") != "", "keep the temp dir (env BENCH_KEEP)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	o.pin = runtime.NumCPU() >= 2
	if o.rounds < 1 || o.conns < 1 || o.duration < time.Second {
		return o, fmt.Errorf("want -rounds and -conns of at least 1 and -duration of at least 1s")
	}
	return o, nil
}

// newEnv makes the temp dir and the process set, and pins this process
// to the load's CPU; done stops every process started and removes the
// dir (unless o.keep).
func (hb hostBench) newEnv(o hostOptions) (a *authEnv, done func(), err error) {
	dir, err := os.MkdirTemp("", "krbfarm-"+hb.name+"-")
	if err != nil {
		return nil, nil, err
	}
	a = &authEnv{ps: &procs{dir: dir, pidFile: cmpString(o.pids, filepath.Join(dir, "pids"))}, dir: dir, krbfarm: o.krbfarm}
	done = func() {
		a.ps.stopAll()
		if !o.keep {
			os.RemoveAll(dir)
		}
	}
	if o.keep {
		fmt.Println(hb.name+": keeping", dir)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // Apache's children run as www-data
		done()
		return nil, nil, err
	}
	if o.pin {
		a.hostCPU, a.loadCPU = "1", "0"
		if err := pinSelf(a.loadCPU); err != nil {
			done()
			return nil, nil, err
		}
	}
	return a, done, nil
}
