//go:build linux

package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// lbOpts are what a fault changes in a standalone balancer's lb.yaml.
type lbOpts struct {
	drain     time.Duration // drain_timeout; 0 = 30s
	handshake time.Duration // handshake_timeout; 0 = 10s
	wrap      []string      // run under this command, e.g. prlimit: it must exec krbfarm (same PID)
}

// balancer is a standalone `krbfarm lb` in terminate mode, with the
// farm's certificate, an HTTP health check every 200 ms and /status.
type balancer struct {
	*proc
	addr, admin, config string
	hosts               []*host
	opts                lbOpts
}

// startLB runs a balancer in front of hosts and waits until its /status
// shows every host up.
func startLB(t testing.TB, bin string, f *farm, dir string, hosts []*host, o lbOpts) *balancer {
	t.Helper()
	b := &balancer{config: filepath.Join(dir, "lb.yaml"), hosts: hosts, opts: o}
	b.write(t, f, 1)
	argv := append(append([]string(nil), o.wrap...), bin, "lb", "--config", b.config)
	b.proc = startProc(t, dir, "lb", exec.Command(argv[0], argv[1:]...))
	b.addr = b.waitLog(t, "listening", 20*time.Second).Addr
	b.admin = b.waitLog(t, "admin listening", 20*time.Second).Addr
	if !poll(20*time.Second, func() bool { return b.allUp() || b.exited() }) || b.exited() {
		t.Fatalf("lb: hosts not up within 20 s; log:\n%s", b.tail())
	}
	return b
}

// write writes lb.yaml; weight is the first host's, so that a reload
// changes something.
func (b *balancer) write(t testing.TB, f *farm, weight int) {
	t.Helper()
	o := b.opts
	var y strings.Builder
	fmt.Fprintf(&y, "listen: 127.0.0.1:0\nadmin: 127.0.0.1:0\nmode: terminate\ncert: %s\nkey: %s\n", f.cert(), f.key())
	if o.drain > 0 {
		fmt.Fprintf(&y, "drain_timeout: %s\n", o.drain)
	}
	if o.handshake > 0 {
		fmt.Fprintf(&y, "handshake_timeout: %s\n", o.handshake)
	}
	fmt.Fprintf(&y, "health: {type: http, interval: 200ms, timeout: 500ms, rise: 2, fall: 2}\nbackends:\n")
	for i, h := range b.hosts {
		w := 1
		if i == 0 {
			w = weight
		}
		fmt.Fprintf(&y, "  - {name: %s, addr: %s, weight: %d}\n", h.name, h.addr, w)
	}
	if err := os.WriteFile(b.config, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// lbStatus is what the tests read of GET /status.
type lbStatus struct {
	Active      int64  `json:"active"`
	FDExhausted uint64 `json:"fd_exhausted"`
	Backends    []struct {
		Name    string `json:"name"`
		Healthy bool   `json:"healthy"`
	} `json:"backends"`
}

// status asks /status, with a timeout of d.
func (b *balancer) status(d time.Duration) (lbStatus, error) {
	var st lbStatus
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + b.admin + "/status")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// healthyHost reports whether the balancer has name in rotation; ok is
// false when /status did not answer.
func (b *balancer) healthyHost(name string) (up, ok bool) {
	st, err := b.status(2 * time.Second)
	if err != nil {
		return false, false
	}
	for _, s := range st.Backends {
		if s.Name == name {
			return s.Healthy, true
		}
	}
	return false, true
}

func (b *balancer) allUp() bool {
	st, err := b.status(2 * time.Second)
	if err != nil || len(st.Backends) == 0 {
		return false
	}
	for _, s := range st.Backends {
		if !s.Healthy {
			return false
		}
	}
	return true
}

// waitHost waits, up to d, until the balancer's view of name is up, and
// returns when it saw it.
func (b *balancer) waitHost(t testing.TB, name string, up bool, d time.Duration) time.Time {
	t.Helper()
	if !poll(d, func() bool { h, ok := b.healthyHost(name); return ok && h == up }) {
		t.Fatalf("lb: %s not %s within %v; log:\n%s", name, upDown(up), d, b.tail())
	}
	return time.Now()
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

// reload rewrites lb.yaml with the first host's weight, sends SIGHUP and
// waits for the balancer's "configuration reloaded" line number n.
func (b *balancer) reload(t testing.TB, f *farm, weight, n int) {
	t.Helper()
	b.write(t, f, weight)
	if err := b.signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP lb: %v", err)
	}
	if !poll(20*time.Second, func() bool { return b.countLog("configuration reloaded") >= n || b.exited() }) || b.exited() {
		t.Fatalf("lb: reload %d not logged; log:\n%s", n, b.tail())
	}
}

// stack is two standalone hosts behind a standalone balancer.
func startStack(t testing.TB, bin string, f *farm, bodyTimeout time.Duration, o lbOpts) *balancer {
	t.Helper()
	dir := t.TempDir()
	hosts := []*host{
		startHost(t, bin, f, dir, "web1", bodyTimeout),
		startHost(t, bin, f, dir, "web2", bodyTimeout),
	}
	return startLB(t, bin, f, dir, hosts, o)
}
