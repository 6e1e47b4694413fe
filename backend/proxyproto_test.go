package backend

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// The addresses of the PROXY tests: the balancer dials from 127.0.0.1 (the
// trusted one), an outsider from 127.0.0.2, and the client the header
// names is a documentation address no socket here has.
const (
	trustedIP   = "127.0.0.1"
	untrustedIP = "127.0.0.2"
	clientIP    = "203.0.113.7"
	clientPort  = 50123
)

// serveSite serves s on a fresh 127.0.0.1:0 listener until the test ends.
func serveSite(t *testing.T, s *Site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// proxyHeader builds a PROXY header (v1 or v2) naming the test client;
// version 0 means none, and local a v2 LOCAL header (a health check).
func proxyHeader(t testing.TB, version byte, local bool) []byte {
	t.Helper()
	if version == 0 {
		return nil
	}
	src := &net.TCPAddr{IP: net.ParseIP(clientIP), Port: clientPort}
	dst := &net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 443}
	h := proxyproto.HeaderProxyFromAddrs(version, src, dst)
	if local {
		h = proxyproto.HeaderProxyFromAddrs(2, nil, nil)
	}
	var b bytes.Buffer
	if _, err := h.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rawGet dials addr from local, sends header then a GET, and returns the
// response, or the error that ended the exchange (a refused connection).
func rawGet(t *testing.T, addr, local string, header []byte, path, auth string) (*http.Response, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Header.Set("Accept", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	conn.Write(header)
	if err := req.Write(conn); err != nil {
		return nil, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, nil
}

func TestProxyProtocol(t *testing.T) {
	f := newFixture(t)
	events := filepath.Join(t.TempDir(), "events.jsonl")
	trusted := ProxyProtocol{Trusted: []string{trustedIP + "/32"}}
	on := serveSite(t, mustSite(t, f, func(c *Config) { c.ProxyProtocol, c.EventLog = trusted, events }))
	required := serveSite(t, mustSite(t, f, func(c *Config) { c.ProxyProtocol = ProxyProtocol{Trusted: trusted.Trusted, Required: true} }))
	off := serveSite(t, mustSite(t, f, nil))
	client := net.JoinHostPort(clientIP, "50123")
	tests := []struct {
		name, addr, from string
		version          byte
		local            bool
		path             string
		status           int    // 0: the connection is refused without an answer
		remote           string // X-Client-Address; "" = the sender's own address
	}{
		{name: "trusted v1", addr: on, from: trustedIP, version: 1, status: 200, remote: client},
		{name: "trusted v2", addr: on, from: trustedIP, version: 2, status: 200, remote: client},
		{name: "trusted v2 LOCAL health check", addr: on, from: trustedIP, version: 2, local: true, path: "/healthz", status: 200},
		{name: "trusted without header", addr: on, from: trustedIP, status: 200},
		{name: "untrusted v1 refused", addr: on, from: untrustedIP, version: 1},
		{name: "untrusted v2 refused", addr: on, from: untrustedIP, version: 2},
		{name: "untrusted without header", addr: on, from: untrustedIP, status: 200},
		{name: "required: trusted without header refused", addr: required, from: trustedIP},
		{name: "required: trusted v2", addr: required, from: trustedIP, version: 2, status: 200, remote: client},
		{name: "required: untrusted v2 refused", addr: required, from: untrustedIP, version: 2},
		{name: "off: header is a bad request", addr: off, from: trustedIP, version: 1, status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := or(tt.path, "/")
			resp, err := rawGet(t, tt.addr, tt.from, proxyHeader(t, tt.version, tt.local), path, mint(t, ticketSpec{kdc: f.kdc}))
			if tt.status == 0 {
				if err == nil {
					t.Fatalf("got %s; want the connection refused", resp.Status)
				}
				return
			}
			if err != nil {
				t.Fatalf("got %v; want %d", err, tt.status)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("got %s; want %d", resp.Status, tt.status)
			}
			got := resp.Header.Get(ClientAddressHeader)
			if tt.status == 400 {
				return // net/http's own answer to a request line it cannot parse
			}
			if host, _, _ := net.SplitHostPort(got); (tt.remote != "" && got != tt.remote) || (tt.remote == "" && host != tt.from) {
				t.Errorf("%s: %q; want %q", ClientAddressHeader, got, or(tt.remote, tt.from+":<port>"))
			}
			if tt.remote != "" && path == "/" {
				var body struct{ Remote string }
				json.NewDecoder(resp.Body).Decode(&body)
				if body.Remote != tt.remote {
					t.Errorf("body remote %q; want %q", body.Remote, tt.remote)
				}
			}
		})
	}
	t.Run("event 4624 source address", func(t *testing.T) { checkLogonSource(t, events) })
}

// checkLogonSource expects a 4624 from the PROXY header's client.
func checkLogonSource(t *testing.T, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	evs, _, _ := ReadEvents(bytes.NewReader(b), 0)
	for _, e := range evs {
		if e.ID == EventLogonSuccess && e.IPAddress == clientIP && e.IPPort == "50123" {
			return
		}
	}
	t.Errorf("no 4624 with ip_address %s ip_port 50123 in:\n%s", clientIP, b)
}

func mustSite(t *testing.T, f *fixture, mod func(*Config)) *Site {
	s, _ := newSite(t, "server1", f.siteKT, mod)
	return s
}

func TestProxyProtocolValidate(t *testing.T) {
	tests := []struct {
		name string
		p    ProxyProtocol
		want string // "" = valid
	}{
		{"off", ProxyProtocol{}, ""},
		{"ip and cidr", ProxyProtocol{Trusted: []string{"127.0.0.1", "10.0.0.0/8", "::1"}}, ""},
		{"bad entry", ProxyProtocol{Trusted: []string{"127.0.0.1", "lb.example.com"}}, "proxy_protocol.trusted[1]"},
		{"bad cidr", ProxyProtocol{Trusted: []string{"10.0.0.0/33"}}, "proxy_protocol.trusted[0]"},
		{"required without trusted", ProxyProtocol{Required: true}, "proxy_protocol.required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Name: "server1", Keytab: "k", ProxyProtocol: tt.p}
			err := c.Validate()
			if (err == nil) != (tt.want == "") || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("Validate() = %v; want error containing %q", err, tt.want)
			}
		})
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Regression: a connection refused for its PROXY header was closed with
// no log line, so an operator could not tell a misconfigured balancer
// from a spoofing client. Now: one Warn line per sender per rateLogEvery,
// and an exact count.
func TestProxyRefusalLogged(t *testing.T) {
	f := newFixture(t)
	trusted := []string{trustedIP + "/32"}
	tests := []struct {
		name     string
		p        ProxyProtocol
		from     string
		version  byte
		reason   string
		attempts int
	}{
		{"untrusted sender", ProxyProtocol{Trusted: trusted}, untrustedIP, 2, "PROXY header from an untrusted sender", 3},
		{"required, none sent", ProxyProtocol{Trusted: trusted, Required: true}, trustedIP, 0, "no PROXY header from a trusted sender (required)", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, logs := newSite(t, "server1", f.siteKT, func(c *Config) { c.ProxyProtocol = tt.p })
			addr := serveSite(t, s)
			for i := range tt.attempts {
				if resp, err := rawGet(t, addr, tt.from, proxyHeader(t, tt.version, false), "/healthz", ""); err == nil {
					t.Fatalf("attempt %d: got %s; want the connection refused", i+1, resp.Status)
				}
			}
			if got := s.Stats().ProxyHeadersRefused; got != int64(tt.attempts) {
				t.Errorf("ProxyHeadersRefused = %d; want %d", got, tt.attempts)
			}
			lines := logs.FilterMessage("proxy header refused").All()
			if len(lines) != 1 {
				t.Fatalf("%d log lines for %d refusals from one sender; want 1 (rate-limited)", len(lines), tt.attempts)
			}
			m := lines[0].ContextMap()
			if host, _, _ := net.SplitHostPort(fmt.Sprint(m["remote"])); host != tt.from || m["reason"] != tt.reason {
				t.Errorf("line remote %v reason %q; want %s:<port> and %q", m["remote"], m["reason"], tt.from, tt.reason)
			}
		})
	}
}
