package lb

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/krbfarm/krbfarm/internal/ratelog"
)

// headerBackend reports, for each connection, the raw bytes before the
// payload's EOF: the PROXY header followed by the payload.
func headerBackend(t *testing.T) (net.Listener, <-chan []byte) {
	got := make(chan []byte, 16)
	ln := listen(t)
	serve(ln, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(waitLimit))
		b, _ := io.ReadAll(c)
		got <- b
	})
	return ln, got
}

// clientBytes waits for the connection whose bytes end with payload
// (health checks send a header and nothing else).
func clientBytes(t *testing.T, got <-chan []byte, payload string) []byte {
	t.Helper()
	timeout := time.After(waitLimit)
	for {
		select {
		case b := <-got:
			if bytes.HasSuffix(b, []byte(payload)) {
				return b
			}
		case <-timeout:
			t.Fatalf("no backend connection carried %q", payload)
		}
	}
}

func TestProxyProtocolSent(t *testing.T) { forEachEngine(t, testProxyProtocolSent) }

func testProxyProtocolSent(t *testing.T, engine string) {
	for _, v := range []string{ProxyV1, ProxyV2} {
		t.Run(v, func(t *testing.T) {
			be, got := headerBackend(t)
			cfg := Config{Mode: ModePassthrough, Engine: engine, Backends: backends(be), ProxyProtocol: v, Health: Health{Interval: time.Hour}}
			_, front := startLB(t, cfg, nil, nil)
			c, err := net.Dial("tcp", front)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, "hello")
			c.(*net.TCPConn).CloseWrite()
			raw := clientBytes(t, got, "hello")
			if v == ProxyV1 {
				cl, fr := c.LocalAddr().(*net.TCPAddr), c.RemoteAddr().(*net.TCPAddr)
				want := fmt.Sprintf("PROXY TCP4 %s %s %d %d\r\nhello", cl.IP, fr.IP, cl.Port, fr.Port)
				if string(raw) != want {
					t.Fatalf("backend got %q; want %q", raw, want)
				}
				return
			}
			br := bufio.NewReader(bytes.NewReader(raw))
			h, err := proxyproto.Read(br)
			if err != nil {
				t.Fatalf("parse v2 header from %q: %v", raw, err)
			}
			if h.Version != 2 || h.Command != proxyproto.PROXY || h.TransportProtocol != proxyproto.TCPv4 {
				t.Errorf("header: got version %d command %v proto %v; want 2 PROXY TCPv4", h.Version, h.Command, h.TransportProtocol)
			}
			if h.SourceAddr.String() != c.LocalAddr().String() || h.DestinationAddr.String() != c.RemoteAddr().String() {
				t.Errorf("addresses: got %v -> %v; want %v -> %v", h.SourceAddr, h.DestinationAddr, c.LocalAddr(), c.RemoteAddr())
			}
			if rest, _ := io.ReadAll(br); string(rest) != "hello" {
				t.Errorf("payload after header: got %q; want hello", rest)
			}
		})
	}
}

// TestProxyProtocolHealthCheck: checks send a header saying the balancer
// itself connects (v2 LOCAL, v1 UNKNOWN), so a backend that requires the
// header (HAProxy's accept-proxy) still passes them.
func TestProxyProtocolHealthCheck(t *testing.T) {
	for v, want := range map[string]string{ProxyV1: "PROXY UNKNOWN\r\n", ProxyV2: "\r\n\r\n\x00\r\nQUIT\n\x20"} {
		t.Run(v, func(t *testing.T) {
			be, got := headerBackend(t)
			startLB(t, Config{Mode: ModePassthrough, Backends: backends(be), ProxyProtocol: v, Health: Health{Interval: time.Hour}}, nil, nil)
			select {
			case b := <-got:
				if !bytes.HasPrefix(b, []byte(want)) {
					t.Errorf("health check sent %q; want it to start with %q", b, want)
				}
			case <-time.After(waitLimit):
				t.Fatal("no health check")
			}
		})
	}
}

// addrEcho answers with the client address its listener reports, and
// sends it, or the first read's error, on the channel (a refused
// connection cannot be written to either).
func addrEcho(ln net.Listener) <-chan string {
	seen := make(chan string, 4)
	serve(ln, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(waitLimit))
		b := make([]byte, 1)
		if _, err := c.Read(b); err != nil {
			seen <- "error: " + err.Error()
			return
		}
		seen <- c.RemoteAddr().String()
		io.WriteString(c, c.RemoteAddr().String())
	})
	return seen
}

// TestProxyListenerTrust: through the balancer, a backend behind
// ProxyListener sees the real client; a trusted sender's header is used;
// an untrusted sender's header is refused; no header keeps the sender's
// own address.
func TestProxyListenerTrust(t *testing.T) { forEachEngine(t, testProxyListenerTrust) }

func testProxyListenerTrust(t *testing.T, engine string) {
	forged := "PROXY TCP4 192.0.2.7 192.0.2.1 4444 443\r\nx"
	for _, tc := range []struct {
		name    string
		trusted []string
		send    string
		want    func(local string) string
	}{
		{"trusted header used", []string{"127.0.0.1"}, forged, func(string) string { return "192.0.2.7:4444" }},
		{"trusted range", []string{"127.0.0.0/8", "bad entry"}, forged, func(string) string { return "192.0.2.7:4444" }},
		{"trusted without header", []string{"127.0.0.1"}, "x", func(l string) string { return l }},
		{"untrusted header refused", []string{"10.0.0.0/8"}, forged, func(string) string { return "error: " + proxyproto.ErrSuperfluousProxyHeader.Error() }},
		{"untrusted without header", []string{"10.0.0.0/8"}, "x", func(l string) string { return l }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln := ProxyListener(listen(t), tc.trusted, nil)
			seen := addrEcho(ln)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			exchange(t, c, tc.send)
			if got, want := <-seen, tc.want(c.LocalAddr().String()); got != want {
				t.Errorf("backend saw %q; want %q", got, want)
			}
		})
	}
	t.Run("through the balancer", func(t *testing.T) {
		for _, v := range []string{ProxyV1, ProxyV2} {
			ln := ProxyListener(listen(t), []string{"127.0.0.1"}, nil)
			addrEcho(ln)
			_, front := startLB(t, Config{Mode: ModePassthrough, Engine: engine, Backends: backends(ln), ProxyProtocol: v, Health: Health{Interval: time.Hour}}, nil, nil)
			c, err := net.Dial("tcp", front)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := exchange(t, c, "x"); got != c.LocalAddr().String() {
				t.Errorf("%s: backend saw %q; want the client %s", v, got, c.LocalAddr())
			}
		}
	})
}

func TestValidateTrusted(t *testing.T) {
	if err := ValidateTrusted([]string{"127.0.0.1", "::1", "10.0.0.0/8"}); err != nil {
		t.Errorf("valid list: %v", err)
	}
	if err := ValidateTrusted([]string{"127.0.0.1", "lb.example"}); err == nil || !bytes.Contains([]byte(err.Error()), []byte("trusted[1]")) {
		t.Errorf("bad entry: got %v; want an error naming trusted[1]", err)
	}
}

// TestUntrustedProxyHeaderLogged checks that a refused header is logged
// with the sender's address, at most once per sender address (whatever
// its port) per proxyLogEvery, the next line saying how many were held
// back. Before internal/ratelog, the line was global (one a second for
// all senders), so a second untrusted sender within the second went
// unnamed: the two-sender half of this test failed.
func TestUntrustedProxyHeaderLogged(t *testing.T) {
	o := newObserved()
	ch := make(chanListener, 1)
	ln := ProxyListener(ch, []string{"10.0.0.0/8"}, o.log)
	var now atomic.Int64 // the limiter's clock, advanced by hand
	now.Store(time.Unix(1700000000, 0).UnixNano())
	ln.(*proxyListener).lines = ratelog.New(proxyLogEvery, proxyLogKeys, func() time.Time { return time.Unix(0, now.Load()) })
	a := func(port int) *net.TCPAddr { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: port} }
	b := &net.TCPAddr{IP: net.IPv4(198, 51, 100, 3), Port: 40001}
	for _, sender := range []*net.TCPAddr{a(40001), a(40002), b, a(40003)} {
		refuseOne(t, ch, ln, sender)
	}
	checkRefusedLines(t, o, []string{a(40001).String(), b.String()}, []int64{0, 0})
	now.Add(int64(proxyLogEvery))
	refuseOne(t, ch, ln, a(40004))
	checkRefusedLines(t, o, []string{a(40001).String(), b.String(), a(40004).String()}, []int64{0, 0, 2})
}

// refuseOne sends a PROXY header from an untrusted sender through ln.
func refuseOne(t *testing.T, ch chanListener, ln net.Listener, sender net.Addr) {
	t.Helper()
	ch <- bytesConn{Reader: bytes.NewReader([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 4444 443\r\nhi")), addr: sender}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.ReadAll(c); !errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) {
		t.Errorf("read from %v: %v; want ErrSuperfluousProxyHeader", sender, err)
	}
}

// checkRefusedLines checks the refusal lines logged so far: their
// remote and suppressed fields, in order.
func checkRefusedLines(t *testing.T, o *observed, remotes []string, suppressed []int64) {
	t.Helper()
	lines := o.logs.FilterMessageSnippet("untrusted sender").All()
	if len(lines) != len(remotes) {
		t.Fatalf("got %d refusal lines %v; want %d, for %v", len(lines), lines, len(remotes), remotes)
	}
	for i, l := range lines {
		m := l.ContextMap()
		if m["remote"] != remotes[i] || m["suppressed"] != suppressed[i] {
			t.Errorf("line %d: remote %v, suppressed %v; want %s, %d", i, m["remote"], m["suppressed"], remotes[i], suppressed[i])
		}
	}
}
