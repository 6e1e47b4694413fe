//go:build linux

package chaos

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// drainLB sends SIGTERM to a standalone balancer (drain_timeout 20s)
// while three authenticated POSTs are in flight (half their body sent)
// and the load goes on. The POSTs must complete; the requests after the
// listener closed must be refused before anything was sent (connection
// refused, or reset in the TLS handshake), never cut after; the balancer
// must exit 0. Window: from the SIGTERM on.
func drainLB(t *testing.T, bin string, f *farm, c *client, sz sizes) []row {
	b := startStack(t, bin, f, 0, lbOpts{drain: 20 * time.Second})
	l := c.startLoad(t, target{dial: b.addr, tls: true}, sz.workers)
	l.waitOK(t, time.Time{}, sz.warm)
	var posts []*slowPost
	for range 3 {
		p, err := c.startSlowPost(b.addr)
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		l.sent.Add(1)
		posts = append(posts, p)
	}
	w := window{from: time.Now(), to: time.Now().Add(time.Hour)}
	if err := b.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !poll(10*time.Second, func() bool { return refused(b.addr) }) {
		t.Fatalf("lb still accepting 10 s after SIGTERM; log:\n%s", b.tail())
	}
	closed := time.Now()
	for _, p := range posts {
		r := p.finish()
		l.add(r)
		if !r.ok() {
			t.Errorf("a POST in flight at SIGTERM: %s; want 200", describe(r))
		}
	}
	if !b.waitExit(30 * time.Second) {
		t.Fatalf("lb still running 30 s after SIGTERM; log:\n%s", b.tail())
	}
	if b.err != nil {
		t.Errorf("lb exit after draining: %v; want 0", b.err)
	}
	exit := time.Now()
	l.waitCount(t, exit, 5, func(r result) bool { return !r.ok() }, "refused requests")
	res := l.finish(t)
	r := tally(t, "SIGTERM drain (lb)", l.sent.Load(), res, w)
	var clean int
	for _, x := range res {
		if x.ok() || !w.holds(x) {
			continue
		}
		if x.wrote {
			t.Errorf("a request cut after it was sent, during the drain: %s", describe(x))
			continue
		}
		clean++
	}
	r.note = fmt.Sprintf("3 POSTs in flight completed; %d refused before sending; listener closed %v and exit 0 %v after SIGTERM",
		clean, closed.Sub(w.from).Round(10*time.Millisecond), exit.Sub(w.from).Round(10*time.Millisecond))
	return []row{r}
}

// refused reports whether a connect to addr is refused.
func refused(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// waitCount waits, up to 60 s, for n results started after since that
// match.
func (l *load) waitCount(t testing.TB, since time.Time, n int, match func(result) bool, what string) {
	t.Helper()
	if !poll(60*time.Second, func() bool { return l.count(since, match) >= n }) {
		t.Fatalf("load: fewer than %d %s within 60 s", n, what)
	}
}

// lbNofile is the descriptor limit of the balancer run out of them: a
// dozen for itself, the rest for a dozen connections.
const lbNofile = 40

// fdExhaustion floods a balancer run with `prlimit --nofile=40:40` with
// idle connections (120, each holding a descriptor in its TLS handshake
// or waiting in the backlog) under load, until it has logged running out
// twice (at most a line a second: over a second of exhaustion, several
// health checks), then releases them. The hosts must never be marked
// down; requests in the meantime wait (or fail: window); afterwards the
// balancer serves again.
func fdExhaustion(t *testing.T, bin string, f *farm, c *client, sz sizes) []row {
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("skipping: prlimit not found (util-linux)")
	}
	limit := fmt.Sprintf("--nofile=%d:%d", lbNofile, lbNofile)
	b := startStack(t, bin, f, 0, lbOpts{handshake: time.Minute, wrap: []string{"prlimit", limit}})
	to := target{dial: b.addr, tls: true}
	l := c.startLoad(t, to, sz.workers)
	l.waitOK(t, time.Time{}, sz.warm)
	w := window{from: time.Now()}
	fl := startFlood(b.addr, 3*lbNofile)
	t.Cleanup(func() { fl.release() })
	outOfFDs := func() int {
		n := 0
		for _, x := range b.logLines() {
			if strings.HasPrefix(x.Msg, "too many open files") {
				n++
			}
		}
		return n
	}
	if !poll(20*time.Second, func() bool { return outOfFDs() >= 2 || b.exited() }) || b.exited() {
		t.Fatalf("lb did not run out of descriptors with %d connections (logged %d times); log:\n%s", len(fl.conns), outOfFDs(), b.tail())
	}
	byLB := fl.release()
	w.to = time.Now()
	l.waitOK(t, w.to, sz.after)
	st, err := b.status(10 * time.Second)
	if err != nil {
		t.Fatalf("lb /status after the flood: %v", err)
	}
	if st.FDExhausted == 0 {
		t.Errorf("lb /status: fd_exhausted 0 after the flood; want > 0")
	}
	for _, s := range st.Backends {
		if !s.Healthy {
			t.Errorf("lb /status: %s down after the flood", s.Name)
		}
	}
	if n := b.countLog("backend down"); n != 0 {
		t.Errorf("lb marked a host down %d times while it was out of descriptors; want never", n)
	}
	r := tally(t, "fd exhaustion (lb, nofile 40)", l.sent.Load(), l.finish(t), w)
	r.note = fmt.Sprintf("flood %d conns (%d closed by lb, rest waited); fd_exhausted %d; hosts never down",
		len(fl.conns), byLB, st.FDExhausted)
	serveAgain(t, c, to, 5)
	return []row{r}
}

// hostHeaderTimeout is the hosts' bound on request headers (backend's
// readHeaderTimeout, not configurable).
const hostHeaderTimeout = 10 * time.Second

// slack is added to a server timeout to bound our wait for the close.
const slack = 15 * time.Second

// slowloris opens slow connections (8 of each kind) against a host
// directly (headers byte by byte; a POST without its body, body_timeout
// 1s) and against the balancer (a TLS ClientHello byte by byte,
// handshake_timeout 2s; headers byte by byte and a POST without its body
// over TLS) while authenticated requests go to both. Every slow connection
// must be closed by the server; no authenticated request may fail.
func slowloris(t *testing.T, bin string, f *farm, c *client, sz sizes) []row {
	b := startStack(t, bin, f, time.Second, lbOpts{handshake: 2 * time.Second})
	h := b.hosts[0]
	lh := c.startLoad(t, target{dial: h.addr}, 1)
	lv := c.startLoad(t, target{dial: b.addr, tls: true}, 1)
	lh.waitOK(t, time.Time{}, sz.warm/2+1)
	lv.waitOK(t, time.Time{}, sz.warm/2+1)
	specs := []slowSpec{
		{name: "headers", dial: dialTCP(h.addr), drip: slowHeaders(f.FQDN), bound: hostHeaderTimeout + slack},
		{name: "no-body", dial: dialTCP(h.addr), prefix: noBody(f.FQDN), bound: time.Second + slack},
		{name: "hello", dial: dialTCP(b.addr), drip: clientHello(t, f.FQDN), bound: 2*time.Second + slack},
		{name: "headers", dial: c.dialTLS(b.addr), drip: slowHeaders(f.FQDN), bound: hostHeaderTimeout + slack},
		{name: "no-body", dial: c.dialTLS(b.addr), prefix: noBody(f.FQDN), bound: time.Second + slack},
	}
	start := time.Now()
	done := make(chan []slowResult, len(specs))
	results := make([][]slowResult, len(specs))
	for i, s := range specs {
		go func() { r := s.run(8); results[i] = r; done <- r }()
	}
	for range specs {
		<-done // each bounded by its spec's bound
	}
	var notes [2][]string
	for i, s := range specs {
		notes[min(i/2, 1)] = append(notes[min(i/2, 1)], summary(t, s.name, results[i]))
	}
	lh.waitOK(t, start, 1)
	lv.waitOK(t, start, 1)
	rh := tally(t, "slowloris -> host", lh.sent.Load(), lh.finish(t), window{})
	rh.note = strings.Join(notes[0], "; ")
	rv := tally(t, "slowloris -> lb", lv.sent.Load(), lv.finish(t), window{})
	rv.note = strings.Join(notes[1], "; ")
	return []row{rh, rv}
}
