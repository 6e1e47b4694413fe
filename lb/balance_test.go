package lb

import (
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// holdBackend answers with its name at once and keeps the connection open
// until the client closes: a connection that stays active.
func holdBackend(t testing.TB, name string) net.Listener {
	ln := listen(t)
	serve(ln, func(c net.Conn) {
		io.WriteString(c, name)
		io.Copy(io.Discard, c)
	})
	return ln
}

// hold opens a connection through front and returns it with the name of
// the backend that took it; the LB counts it active before the name
// arrives, since the backend writes only once connected.
func hold(t *testing.T, front string, local string) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	c, err := d.Dial("tcp", front)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 1)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read backend name: %v", err)
	}
	return c, string(buf)
}

func holdCfg(t *testing.T, engine, balance string, weights ...int) Config {
	var lns []net.Listener
	for i := range weights {
		lns = append(lns, holdBackend(t, string(rune('a'+i))))
	}
	bs := backends(lns...)
	for i, w := range weights {
		bs[i].Weight = w
	}
	return Config{Backends: bs, Mode: ModePassthrough, Engine: engine, Balance: balance, Health: Health{Interval: time.Hour}}
}

func TestBalance(t *testing.T) { forEachEngine(t, testBalance) }

func testBalance(t *testing.T, engine string) {
	for _, tc := range []struct {
		name    string
		balance string
		weights []int
		conns   int
		close   bool // close each connection before the next
		want    string
	}{
		{"roundrobin", BalanceRoundRobin, []int{0, 0, 0}, 6, true, "abcabc"},
		{"roundrobin weighted", "", []int{3, 1}, 8, true, "aaabaaab"},
		{"leastconn spreads held connections", BalanceLeastConn, []int{1, 1, 1}, 6, false, "2a2b2c"},
		{"leastconn weighted", BalanceLeastConn, []int{2, 1}, 6, false, "4a2b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, front := startLB(t, holdCfg(t, engine, tc.balance, tc.weights...), nil, nil)
			var got string
			for range tc.conns {
				c, name := hold(t, front, "")
				got += name
				if tc.close {
					c.Close()
				}
			}
			if tc.close {
				if got != tc.want {
					t.Errorf("sequence: got %q; want %q", got, tc.want)
				}
				return
			}
			if counts := countNames(got); counts != tc.want {
				t.Errorf("held connections per backend: got %s; want %s", counts, tc.want)
			}
		})
	}
}

// countNames turns "abab" into "2a2b".
func countNames(s string) string {
	var b strings.Builder
	for r := 'a'; r <= 'z'; r++ {
		if n := strings.Count(s, string(r)); n > 0 {
			fmt.Fprintf(&b, "%d%c", n, r)
		}
	}
	return b.String()
}

// TestBalanceSource: one client IP always reaches one backend; several IPs
// spread; loopback has all of 127.0.0.0/8 to dial from.
func TestBalanceSource(t *testing.T) { forEachEngine(t, testBalanceSource) }

func testBalanceSource(t *testing.T, engine string) {
	_, front := startLB(t, holdCfg(t, engine, BalanceSource, 1, 1, 1), nil, nil)
	seen := map[string]bool{}
	for i := 1; i <= 12; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		_, first := hold(t, front, ip)
		for range 3 {
			c, name := hold(t, front, ip)
			c.Close()
			if name != first {
				t.Fatalf("client %s: got backend %s after %s; want the same", ip, name, first)
			}
		}
		seen[first] = true
	}
	if len(seen) < 2 {
		t.Errorf("12 client IPs all went to %v; want a spread", seen)
	}
}

// TestSourceHashStable: when a backend leaves the candidates only its
// clients move; everyone else keeps their backend.
func TestSourceHashStable(t *testing.T) {
	ups := []*Upstream{{Backend: Backend{Name: "a", Weight: 1}}, {Backend: Backend{Name: "b", Weight: 1}}, {Backend: Backend{Name: "c", Weight: 1}}}
	var p SourceHash
	for i := range 200 {
		client := &net.TCPAddr{IP: net.IPv4(10, 0, byte(i/250), byte(i%250)), Port: 1000 + i}
		all := p.Pick(ups, client)
		without := p.Pick([]*Upstream{ups[0], ups[2]}, client)
		if all.Name != "b" && without != all {
			t.Fatalf("client %v moved from %s to %s when b left", client, all.Name, without.Name)
		}
	}
}

// TestMaxConns: a backend at max_conns gets no more connections; with
// every backend full the client is closed and one warning says why.
func TestMaxConns(t *testing.T) { forEachEngine(t, testMaxConns) }

func testMaxConns(t *testing.T, engine string) {
	o := newObserved()
	cfg := holdCfg(t, engine, BalanceRoundRobin, 1, 1)
	cfg.Backends[0].MaxConns = 1
	cfg.Backends[1].MaxConns = 2
	srv, front := startLB(t, cfg, nil, o.log)
	var got string
	for range 3 {
		_, name := hold(t, front, "")
		got += name
	}
	if countNames(got) != "1a2b" {
		t.Errorf("three held connections: got %q; want one on a, two on b", got)
	}
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	readEOF(t, c)
	o.waitEvent(t, "connection closed")
	for _, st := range srv.Status() {
		if !st.Healthy || st.Active != int64(st.MaxConns) {
			t.Errorf("%s: got %+v; want healthy and full", st.Name, st)
		}
	}
}

func TestTriedSet(t *testing.T) {
	for _, n := range []int{3, 64, 65, 200} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := newTriedSet(n)
			for i := 0; i < n; i += 3 {
				s.add(i)
			}
			for i := range n {
				if got, want := s.has(i), i%3 == 0; got != want {
					t.Fatalf("has(%d) = %v; want %v", i, got, want)
				}
			}
		})
	}
}
