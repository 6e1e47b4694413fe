//go:build linux

package chaos

import (
	"flag"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

var long = flag.Bool("chaos.long", false, "more load before and after each fault (make chaos)")

// sizes of a run: workers per load, successes before a fault and after it.
type sizes struct{ workers, warm, after int }

func runSizes() sizes {
	if *long {
		return sizes{workers: 4, warm: 100, after: 300}
	}
	return sizes{workers: 2, warm: 10, after: 20}
}

// TestChaos breaks a real farm in six ways under authenticated load and
// prints a table of what each fault cost.
func TestChaos(t *testing.T) {
	skipWithoutKrb5(t)
	bin := buildKrbfarm(t)
	f := startFarm(t, bin)
	c := newClient(t, f)
	var tb table
	defer func() {
		t.Log("chaos table:")
		var b strings.Builder
		tb.print(&b)
		t.Log("\n" + b.String())
	}()
	sz := runSizes()
	for _, fault := range []struct {
		name string
		run  func(t *testing.T, bin string, f *farm, c *client, sz sizes) []row
	}{
		{"Kill9Host", kill9Host},
		{"StopHost", stopHost},
		{"Reload", reloadThrice},
		{"Drain", drainLB},
		{"FDExhaustion", fdExhaustion},
		{"Slowloris", slowloris},
	} {
		t.Run(fault.name, func(t *testing.T) {
			for _, r := range fault.run(t, bin, f, c, sz) {
				r.check(t)
				tb.add(r)
			}
		})
	}
}

// buildKrbfarm builds the binary under test.
func buildKrbfarm(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "krbfarm")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/krbfarm/krbfarm/cmd/krbfarm")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveAgain asserts that n requests in a row succeed.
func serveAgain(t *testing.T, c *client, to target, n int) {
	t.Helper()
	hc := c.httpClient(to)
	for i := range n {
		if r := c.do(hc, to); !r.ok() {
			t.Fatalf("after the fault, request %d of %d: %s", i+1, n, describe(r))
		}
	}
}

// kill9Host kills a farm host (its PID from farm.json) under load through
// the farm's own balancer. Window: from the kill until the host's port
// refuses connections (the process may show as a zombie while its other
// threads still hold its sockets). The balancer retries a refused connect
// on the other host, so only requests in flight on the killed host may
// fail.
func kill9Host(t *testing.T, _ string, f *farm, c *client, sz sizes) []row {
	to := target{dial: f.LB.Addr, tls: true}
	l := c.startLoad(t, to, sz.workers)
	l.waitOK(t, time.Time{}, sz.warm)
	pid, addr := f.Backends[0].PID, f.Backends[0].Addr
	w := window{from: time.Now()}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	if !poll(10*time.Second, func() bool { return gone(pid) && refused(addr) }) {
		t.Fatalf("host pid %d still running, or %s accepting, 10 s after SIGKILL", pid, addr)
	}
	w.to = time.Now()
	l.waitOK(t, w.to, sz.after)
	r := tally(t, "kill -9 host (farm LB)", l.sent.Load(), l.finish(t), w)
	r.note = fmt.Sprintf("window: kill to port refusing (%v)", w.to.Sub(w.from).Round(time.Millisecond))
	serveAgain(t, c, to, 5)
	return []row{r}
}

// stopHost stops a host (SIGSTOP) behind a standalone balancer until the
// balancer's health check takes it out, checks that the farm serves
// meanwhile, then resumes it (SIGCONT). Window: from the stop until the
// balancer marked it down. Requests sent to the host before that stall
// until SIGCONT (the balancer does not cut them), then complete.
func stopHost(t *testing.T, bin string, f *farm, c *client, sz sizes) []row {
	b := startStack(t, bin, f, 0, lbOpts{})
	to := target{dial: b.addr, tls: true}
	l := c.startLoad(t, to, sz.workers)
	l.waitOK(t, time.Time{}, sz.warm)
	victim := b.hosts[0]
	w := window{from: time.Now()}
	if err := victim.signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	w.to = b.waitHost(t, victim.name, false, 20*time.Second)
	hc := c.httpClient(to)
	for range 5 { // the farm serves with the host stopped
		l.sent.Add(1)
		r := c.do(hc, to)
		l.add(r)
		if !r.ok() {
			t.Errorf("with %s stopped and out of rotation: %s", victim.name, describe(r))
		}
	}
	cont := time.Now()
	if err := victim.signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	back := b.waitHost(t, victim.name, true, 20*time.Second)
	l.waitOK(t, back, sz.after)
	res := l.finish(t)
	r := tally(t, "SIGSTOP host (lb)", l.sent.Load(), res, w)
	var stalled, completed int
	for _, x := range res {
		if x.start.Before(w.to) && x.end.After(cont) {
			stalled++
			if x.ok() {
				completed++
			}
		}
	}
	r.note = fmt.Sprintf("out of rotation %v after SIGSTOP; %d stalled until SIGCONT (%v later), %d of them then completed",
		w.to.Sub(w.from).Round(10*time.Millisecond), stalled, cont.Sub(w.from).Round(10*time.Millisecond), completed)
	serveAgain(t, c, to, 5)
	return []row{r}
}

// reloadThrice reloads the balancer (a new weight each time) and both
// hosts with SIGHUP, three times, under load. No request may fail.
func reloadThrice(t *testing.T, bin string, f *farm, c *client, sz sizes) []row {
	b := startStack(t, bin, f, 0, lbOpts{})
	l := c.startLoad(t, target{dial: b.addr, tls: true}, sz.workers)
	l.waitOK(t, time.Time{}, sz.warm)
	for i := 1; i <= 3; i++ {
		b.reload(t, f, i+1, i)
		for _, h := range b.hosts {
			h.reload(t, i)
		}
		l.waitOK(t, time.Now(), sz.after/3+1)
	}
	r := tally(t, "3x SIGHUP lb+hosts", l.sent.Load(), l.finish(t), window{})
	r.note = "no window: every failure counts"
	return []row{r}
}
