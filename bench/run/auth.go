package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// make authbench: an IIS-like SPNEGO host (`krbfarm backend`) against
// Apache 2.4 with mod_auth_gssapi, both with the same keytab from a real
// MIT KDC (`krbfarm up`), driven by a Go load generator that sends a
// fresh Kerberos AP-REQ with every request.

const subjApache = "apache"

type authOptions struct {
	out, krbfarm, pids string
	duration, soak     time.Duration
	rounds, conns      int
	pin, keep          bool
}

func authMain(args []string) int {
	o, err := parseAuthOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := authRun(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "authbench:", err)
		return 1
	}
	return 0
}

func parseAuthOptions(args []string) (authOptions, error) {
	var o authOptions
	fs := flag.NewFlagSet("auth", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "bench/authresults.json", "where to write the results as JSON")
	fs.StringVar(&o.krbfarm, "krbfarm", "bin/krbfarm", "the krbfarm binary")
	fs.StringVar(&o.pids, "pids", "", "append \"PID name\" of every process started here (default: in the temp dir)")
	fs.DurationVar(&o.duration, "duration", envDuration("BENCH_DURATION", 5*time.Second), "each measured run (env BENCH_DURATION)")
	fs.IntVar(&o.rounds, "rounds", envInt("BENCH_ROUNDS", 5), "interleaved rounds per metric (env BENCH_ROUNDS)")
	fs.IntVar(&o.conns, "conns", envInt("BENCH_AUTH_CONNS", 32), "concurrent connections (env BENCH_AUTH_CONNS)")
	fs.DurationVar(&o.soak, "soak", envDuration("BENCH_SOAK", 0), "then run the krbfarm host at full load this long, its RSS sampled every 10s (env BENCH_SOAK, e.g. 10m)")
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

// authEnv is an auth bench run's setting.
type authEnv struct {
	ps               *procs
	dir, krbfarm     string
	hostCPU, loadCPU string // taskset lists; "" = not pinned
}

func authRun(ctx context.Context, o authOptions) error {
	dir, err := os.MkdirTemp("", "krbfarm-authbench-")
	if err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil { // Apache's children run as www-data
		return err
	}
	if o.keep {
		fmt.Println("authbench: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	a := &authEnv{ps: &procs{dir: dir, pidFile: cmpString(o.pids, filepath.Join(dir, "pids"))}, dir: dir, krbfarm: o.krbfarm}
	defer a.ps.stopAll()
	if o.pin {
		a.hostCPU, a.loadCPU = "1", "0"
		if err := pinSelf(a.loadCPU); err != nil {
			return err
		}
	}
	res := &Results{Machine: machine(o.krbfarm), Settings: authSettings(o)}
	printAuthHeader(res)
	targets, maker, err := a.startHosts(ctx)
	if err != nil {
		return err
	}
	defer maker.close()
	sp := roundSpec{duration: o.duration, rounds: o.rounds, conns: o.conns,
		subjects: []string{subjKrbfarm, subjApache}, peer: subjApache, cpuName: "host CPU"}
	benchLoads(ctx, sp, targets, maker, res)
	res.Served = nil // one host each: nothing to tell
	if o.soak > 0 && ctx.Err() == nil {
		res.Soak = a.soak(ctx, o, targets[subjKrbfarm], maker)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, m := range res.Metrics {
		m.computeRatio()
	}
	fmt.Printf("\n%d round(s) of %v, hosts on CPU %s, load on CPU %s; median (min..max):\n", o.rounds, o.duration, cmpString(a.hostCPU, "any"), cmpString(a.loadCPU, "any"))
	writeTable(os.Stdout, []string{subjKrbfarm, subjApache}, res.Metrics)
	if err := writeJSON(o.out, res); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Println("\nresults written to", o.out)
	return nil
}

// startHosts provisions the realm, starts both hosts and logs the user in.
func (a *authEnv) startHosts(ctx context.Context) (map[string]authTarget, *tokenMaker, error) {
	_, fi, err := a.startRealm(ctx, "", "server1")
	if err != nil {
		return nil, nil, fmt.Errorf("realm (krbfarm up): %w", err)
	}
	h, err := a.copyHostFiles(fi)
	if err != nil {
		return nil, nil, err
	}
	kp, kurl, err := a.startBackend(ctx, fi, h)
	if err != nil {
		return nil, nil, fmt.Errorf("krbfarm backend: %w", err)
	}
	ap, aurl, err := a.startApache(ctx, h)
	if err != nil {
		return nil, nil, fmt.Errorf("apache: %w", err)
	}
	user, realm, _ := strings.Cut(fi.Users[0].Principal, "@")
	maker, err := newTokenMaker(h.krb5conf, user, cmpString(realm, fi.Realm), fi.Users[0].Password, fi.SPN)
	if err != nil {
		return nil, nil, err
	}
	fmt.Printf("  realm %s, SPN %s, user %s; krbfarm backend %s, Apache %s\n\n", fi.Realm, fi.SPN, user, kurl, aurl)
	return map[string]authTarget{subjKrbfarm: {url: kurl, pids: []int{kp.pid()}}, subjApache: {url: aurl, pids: []int{ap.pid()}}}, maker, nil
}

// pinSelf moves every thread of this process to cpus and gives Go one P.
func pinSelf(cpus string) error {
	out, err := runCommand("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(os.Getpid()))
	if err != nil {
		return fmt.Errorf("taskset: %w: %s", err, out)
	}
	runtime.GOMAXPROCS(1)
	return nil
}

func runCommand(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func authSettings(o authOptions) map[string]string {
	s := map[string]string{
		"duration": o.duration.String(),
		"rounds":   fmt.Sprintf("%d, interleaved (krbfarm apache krbfarm apache ...); median and min..max; %s", o.rounds, pairedRule),
		"load":     fmt.Sprintf("Go client, %d connections, a fresh SPNEGO AP-REQ per request (built before each run), GET a 128 B page; a 1s warm-up before each host's first round", o.conns),
		"hosts":    "krbfarm backend (gokrb5, in-memory replay cache) vs Apache 2.4 mpm_event + mod_auth_gssapi (MIT krb5, its file replay cache), the same keytab",
		"cpu":      "utime+stime of each host (Apache: with its children) from /proc/PID/stat around each run, divided by the 200s",
		"pinning":  "none",
	}
	if o.pin {
		s["pinning"] = "taskset: each host on CPU 1, the load generator (GOMAXPROCS 1) on CPU 0"
	}
	if o.soak > 0 {
		s["soak"] = o.soak.String() + " of keep-alive load on the krbfarm host, RSS every 10s"
	}
	return s
}

func printAuthHeader(res *Results) {
	fmt.Println("krbfarm authbench: krbfarm backend vs Apache mod_auth_gssapi, Kerberos SPNEGO on loopback")
	for _, k := range []string{"nproc", "cpu", "kernel", "go", "krbfarm"} {
		fmt.Printf("  %-8s %s\n", k+":", res.Machine[k])
	}
	fmt.Printf("  %-8s %s\n", "apache:", firstLine(command("apache2", "-v")))
	for _, k := range []string{"pinning", "hosts", "load", "cpu", "rounds", "duration", "soak"} {
		if v := res.Settings[k]; v != "" {
			fmt.Printf("  %-9s %s\n", k+":", v)
		}
	}
	fmt.Println()
}

func cmpString(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
