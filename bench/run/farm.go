package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
)

// make farmbench: the whole farm through its front door, TLS terminated
// at the balancer, two SPNEGO hosts behind it. `krbfarm up` (its LB and
// its two `krbfarm backend` processes) against HAProxy (TLS terminated,
// mode tcp) in front of two Apache 2.4 mpm_event + mod_auth_gssapi hosts
// holding the same keytab, krb5.conf and TLS certificate; the same
// load generator, a fresh Kerberos AP-REQ per request.

const subjHAApache = "haproxy+apache"

func farmMain(args []string) int { return farmBench.main(args, farmRun) }

func farmRun(ctx context.Context, o hostOptions) error {
	a, done, err := farmBench.newEnv(o)
	if err != nil {
		return err
	}
	defer done()
	res := &Results{Machine: machine(o.krbfarm), Settings: farmSettings(o)}
	printFarmHeader(res)
	if err := a.benchFarms(ctx, o, res); err != nil {
		return err
	}
	if err := writeJSON(o.out, res); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	fmt.Println("\nresults written to", o.out)
	return nil
}

// benchFarms starts both farms, runs the rounds, stops the farms and
// prints the table.
func (a *authEnv) benchFarms(ctx context.Context, o hostOptions, res *Results) error {
	defer a.ps.stopAll()
	targets, maker, err := a.startFarms(ctx, res.Settings)
	if err != nil {
		return err
	}
	defer maker.close()
	for _, s := range []string{subjKrbfarm, subjHAApache} {
		res.Settings["tls "+s] = tlsSummary(targets[s])
		fmt.Printf("  TLS %-15s %s\n", s+":", res.Settings["tls "+s])
	}
	fmt.Printf("  page:     %s\n\n", res.Settings["page"])
	sp := roundSpec{duration: o.duration, rounds: o.rounds, conns: o.conns,
		subjects: []string{subjKrbfarm, subjHAApache}, peer: subjHAApache, cpuName: "farm CPU"}
	benchLoads(ctx, sp, targets, maker, res)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	for _, m := range res.Metrics {
		m.computeRatio()
	}
	res.Notes = append(res.Notes, servedNotes(res.Served, sp.subjects)...)
	fmt.Printf("\n%d round(s) of %v, farms on CPU %s, load on CPU %s; median (min..max):\n", o.rounds, o.duration, cmpString(a.hostCPU, "any"), cmpString(a.loadCPU, "any"))
	writeTable(os.Stdout, sp.subjects, res.Metrics)
	printServed(res.Served, sp.subjects)
	for _, n := range res.Notes {
		fmt.Println("  note:", n)
	}
	return nil
}

// servedNotes says, per load, which subject's farm had a host that
// answered nothing: then it did not run as a farm of two.
func servedNotes(served map[string]map[string]map[string]int, subjects []string) []string {
	var notes []string
	for _, load := range sortedKeys(served) {
		for _, s := range subjects {
			n := 0
			for h, c := range served[load][s] {
				if h != "" && c > 0 {
					n++
				}
			}
			if n < 2 {
				notes = append(notes, fmt.Sprintf("%s, %s: %d host(s) answered; want 2", load, s, n))
			}
		}
	}
	return notes
}

// printServed prints the requests each host answered, per load.
func printServed(served map[string]map[string]map[string]int, subjects []string) {
	fmt.Println("\nrequests answered per host (X-Backend), all rounds:")
	for _, load := range sortedKeys(served) {
		for _, s := range subjects {
			fmt.Printf("  %-36s %-15s %s\n", load, s, formatServed(served[load][s]))
		}
	}
}

// formatServed is "server1 1234, server2 1200".
func formatServed(m map[string]int) string {
	var parts []string
	for _, h := range sortedKeys(m) {
		parts = append(parts, fmt.Sprintf("%s %d", cmpString(h, "(no header)"), m[h]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func farmSettings(o hostOptions) map[string]string {
	s := map[string]string{
		"duration": o.duration.String(),
		"rounds":   fmt.Sprintf("%d, interleaved (krbfarm haproxy+apache krbfarm ...); median and min..max; %s", o.rounds, pairedRule),
		"load":     fmt.Sprintf("Go client, %d connections, HTTPS with a fresh SPNEGO AP-REQ per request (built before each run); new connection per request = a full TLS handshake each (no session resumption: the client keeps no session cache); keep-alive = one TLS connection per client connection; a 1s warm-up before each farm's first round", o.conns),
		"tls":      "both front doors serve the certificate krbfarm up minted for the FQDN (the client verifies it against the lab CA); the client offers X25519 only, so both do the same key exchange",
		"farms":    "krbfarm up --mode terminate, 2 hosts (its LB and 2 krbfarm backend processes; its KDC idles: tokens are pre-built) vs HAProxy (bind ssl crt, mode tcp: L4, so a Negotiate context stays on its connection, roundrobin) in front of 2 Apache 2.4 mpm_event + mod_auth_gssapi hosts; the same keytab, krb5.conf and SPN",
		"cpu":      "utime+stime from /proc around each run, divided by the 200s: krbfarm = the krbfarm up process (LB) with its children (2 hosts, the KDC); haproxy+apache = HAProxy + each Apache with its children",
		"pinning":  "none",
	}
	if o.pin {
		s["pinning"] = "taskset: every farm process on CPU 1 (one HAProxy thread; Go: GOMAXPROCS 1), the load generator (GOMAXPROCS 1) on CPU 0"
	}
	return s
}

func printFarmHeader(res *Results) {
	fmt.Println("krbfarm farmbench: krbfarm up vs HAProxy + 2 Apache mod_auth_gssapi, TLS at the front door, Kerberos SPNEGO on loopback")
	for _, k := range []string{"nproc", "cpu", "kernel", "go", "krbfarm", "haproxy"} {
		fmt.Printf("  %-8s %s\n", k+":", res.Machine[k])
	}
	fmt.Printf("  %-8s %s\n", "apache:", firstLine(command("apache2", "-v")))
	for _, k := range []string{"pinning", "farms", "tls", "load", "cpu", "rounds", "duration"} {
		fmt.Printf("  %-9s %s\n", k+":", res.Settings[k])
	}
	fmt.Println()
}
