package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// make authbench: an IIS-like SPNEGO host (`krbfarm backend`) against
// Apache 2.4 with mod_auth_gssapi, both with the same keytab from a real
// MIT KDC (`krbfarm up`), driven by a Go load generator that sends a
// fresh Kerberos AP-REQ with every request.

const subjApache = "apache"

func authMain(args []string) int { return authBench.main(args, authRun) }

// authEnv is an auth bench run's setting.
type authEnv struct {
	ps               *procs
	dir, krbfarm     string
	hostCPU, loadCPU string // taskset lists; "" = not pinned
}

func authRun(ctx context.Context, o hostOptions) error {
	a, done, err := authBench.newEnv(o)
	if err != nil {
		return err
	}
	defer done()
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

func authSettings(o hostOptions) map[string]string {
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
