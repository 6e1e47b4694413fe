package backend

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serve runs s on a loopback listener until the test ends and returns its
// address.
func serve(t *testing.T, s *Site) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

// conn is one keep-alive client connection: requests go out in turn on it,
// as a browser's do.
type conn struct {
	t    *testing.T
	addr string
	c    net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, addr: addr, c: c, br: bufio.NewReader(c)}
}

// get sends GET path with the header pairs and returns the response and body.
func (c *conn) get(path string, hdr ...string) (*http.Response, string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+c.addr+path, nil)
	req.Header.Set("Accept", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := req.Write(c.c); err != nil {
		c.t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// body decodes a JSON 200 body.
func body(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("body %q: %v", s, err)
	}
	return m
}

// eventsOf reads the events a site wrote to path.
func eventsOf(t *testing.T, path string) []Event {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ev, _, err := ReadEvents(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// withEvents gives a site an event log in a temp dir; the path is in *path.
func withEvents(t *testing.T, path *string, mod func(*Config)) func(*Config) {
	*path = filepath.Join(t.TempDir(), "events.jsonl")
	return func(c *Config) {
		c.EventLog = *path
		if mod != nil {
			mod(c)
		}
	}
}

func TestBatchLogonRight(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		right  *bool
		status int
		events []int
	}{
		{"absent means granted", nil, 200, []int{EventLogonSuccess}},
		{"granted", ptr(true), 200, []int{EventLogonSuccess}},
		{"missing", ptr(false), 503, []int{EventLogonFailure, EventPoolIdentity}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evPath string
			s, _ := newSite(t, "server1", f.siteKT, withEvents(t, &evPath, func(c *Config) { c.BatchLogonRight = tt.right }))
			c := dial(t, serve(t, s))
			health, _ := c.get("/healthz")
			resp, b := c.get("/", "Authorization", mint(t, ticketSpec{kdc: f.kdc}))
			if resp.StatusCode != tt.status || (tt.status != 503) != (health.StatusCode == 200) {
				t.Fatalf("got / %d, /healthz %d; want / %d and /healthz %d", resp.StatusCode, health.StatusCode, tt.status, map[bool]int{true: 503, false: 200}[tt.status == 503])
			}
			if tt.status == 503 && !strings.Contains(b, "Service Unavailable") {
				t.Errorf("503 body %q lacks IIS's Service Unavailable page", b)
			}
			checkEventIDs(t, eventsOf(t, evPath), tt.events)
			if ev := eventsOf(t, evPath); tt.status == 503 && (ev[0].Status != "0xC000015B" || ev[0].LogonType != LogonTypeBatch) {
				t.Errorf("4625 = %+v; want status 0xC000015B, logon type 4", ev[0])
			}
		})
	}
}

func checkEventIDs(t *testing.T, ev []Event, want []int) {
	t.Helper()
	var got []int
	for _, e := range ev {
		got = append(got, e.ID)
		if e.Host != "server1" || e.Time.IsZero() {
			t.Errorf("event %+v lacks host or time", e)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("event IDs %v; want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("event IDs %v; want %v", got, want)
		}
	}
}

func TestAuthPersist(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name       string
		mod        func(*Config)
		persistent string // Persistent-Auth on the first answer
		second     int    // status of a token-less second request on the same connection
	}{
		{"defaults (authPersistNonNTLM true)", nil, "true", 200},
		{"authPersistNonNTLM false", func(c *Config) { c.AuthPersistNonNTLM = ptr(false) }, "false", 401},
		{"authPersistSingleRequest", func(c *Config) { c.AuthPersistSingleRequest = true }, "false", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSite(t, "server1", f.siteKT, tt.mod)
			addr := serve(t, s)
			c := dial(t, addr)
			first, _ := c.get("/", "Authorization", mint(t, ticketSpec{kdc: f.kdc}))
			second, b := c.get("/")
			if first.StatusCode != 200 || first.Header.Get("Persistent-Auth") != tt.persistent {
				t.Fatalf("first: %d Persistent-Auth %q; want 200 %q", first.StatusCode, first.Header.Get("Persistent-Auth"), tt.persistent)
			}
			if second.StatusCode != tt.second {
				t.Fatalf("second request on the connection: %d; want %d", second.StatusCode, tt.second)
			}
			if tt.second == 200 {
				if m := body(t, b); m["user"] != "alice@"+testRealm || m["mechanism"] != "Kerberos" || m["persisted"] != true {
					t.Errorf("second body %v; want alice, Kerberos, persisted", m)
				}
			}
			if other, _ := dial(t, addr).get("/"); other.StatusCode != 401 {
				t.Errorf("another connection without a token: %d; want 401", other.StatusCode)
			}
		})
	}
}

func TestHeaderLimits(t *testing.T) {
	f := newFixture(t)
	six := strings.Repeat("x", 6000)
	tests := []struct {
		name   string
		mod    func(*Config)
		hdr    []string
		status int
	}{
		{"small", nil, []string{"X-A", six}, 401},
		{"one field over maxFieldLength", nil, []string{"Authorization", "Negotiate " + strings.Repeat("A", 17000)}, 400},
		{"fields under, total over maxRequestBytes", nil, []string{"X-A", six, "X-B", six, "X-C", six}, 400},
		{"maxRequestBytes raised", func(c *Config) { c.MaxRequestBytes = 32768 }, []string{"X-A", six, "X-B", six, "X-C", six}, 401},
		{"maxFieldLength raised", func(c *Config) { c.MaxFieldLength, c.MaxRequestBytes = 20000, 20000 },
			[]string{"X-A", strings.Repeat("x", 17000)}, 401},
		{"old name max_header_bytes", func(c *Config) { c.MaxHeaderBytes = 1000 }, []string{"X-A", strings.Repeat("x", 1200)}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSite(t, "server1", f.siteKT, tt.mod)
			resp, b := dial(t, serve(t, s)).get("/", tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 400 && !strings.Contains(b, "Request Header Too Long") {
				t.Errorf("400 body %q lacks Request Header Too Long", b)
			}
		})
	}
}

// TestSetHeaderLimits raises the limits on a running site, as the registry
// edit and http.sys restart do: a 30000-byte token gets 400, then not.
func TestSetHeaderLimits(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	addr := serve(t, s)
	big := []string{"Authorization", "Negotiate " + strings.Repeat("A", 30000)}
	if resp, _ := dial(t, addr).get("/", big...); resp.StatusCode != 400 {
		t.Fatalf("before: status %d; want 400", resp.StatusCode)
	}
	s.SetHeaderLimits(MaxHTTPSysFieldLength, MaxHTTPSysFieldLength)
	if field, req := s.HeaderLimits(); field != 65534 || req != 65534 {
		t.Errorf("HeaderLimits = %d, %d; want 65534, 65534", field, req)
	}
	if resp, _ := dial(t, addr).get("/", big...); resp.StatusCode == 400 {
		t.Errorf("after raising the limits: still 400")
	}
	s.SetHeaderLimits(0, 0)
	if field, req := s.HeaderLimits(); field != DefaultMaxFieldLength || req != DefaultMaxRequestBytes {
		t.Errorf("HeaderLimits after 0, 0 = %d, %d; want the defaults", field, req)
	}
}

func TestProviders(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name      string
		providers []string
		want      []string
	}{
		{"default", nil, []string{"Negotiate", "NTLM"}},
		{"Negotiate only", []string{"negotiate"}, []string{"Negotiate"}},
		{"NTLM first", []string{"NTLM", "Negotiate"}, []string{"NTLM", "Negotiate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newSite(t, "server1", f.siteKT, func(c *Config) { c.Providers = tt.providers })
			resp, _ := dial(t, serve(t, s)).get("/")
			got := resp.Header.Values("WWW-Authenticate")
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("WWW-Authenticate %q; want %q", got, tt.want)
			}
		})
	}
}

func TestFailureEvents(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	tests := []struct {
		name             string
		mod              func(*Config)
		auth             string
		status, sub, pkg string
		reason           string
	}{
		{"host clock skewed", func(c *Config) { c.ClockOffset = 10 * time.Minute }, mint(t, ticketSpec{kdc: f.kdc}),
			"0xC0000133", "0x0", "Kerberos", ReasonSkew},
		{"client clock skewed", nil, mint(t, ticketSpec{kdc: f.kdc, ctime: now.Add(-time.Hour)}),
			"0xC0000133", "0x0", "Kerberos", ReasonSkew},
		{"wrong key", nil, mint(t, ticketSpec{kdc: f.wrongPW}), "0xC000006D", "0x0", "Kerberos", ReasonModified},
		{"stale keytab", nil, mint(t, ticketSpec{kdc: f.kdc, kvno: 3}), "0xC000006D", "0xC000018D", "Kerberos", ReasonBadKeyVer},
		{"NTLM not a provider", kerberosOnly, negotiate(ntlmType1()), "0xC0000418", "0x0", "NTLM", ReasonNTLM},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evPath string
			s, _ := newSite(t, "server1", f.siteKT, withEvents(t, &evPath, tt.mod))
			if resp, _ := dial(t, serve(t, s)).get("/", "Authorization", tt.auth); resp.StatusCode != 401 {
				t.Fatalf("status %d; want 401", resp.StatusCode)
			}
			ev := eventsOf(t, evPath)
			checkEventIDs(t, ev, []int{EventLogonFailure})
			e := ev[0]
			if e.Status != tt.status || e.SubStatus != tt.sub || e.Package != tt.pkg || e.Reason != tt.reason || e.LogonType != 3 || e.Remote == "" {
				t.Errorf("4625 %+v; want status %s sub %s package %s reason %s, logon type 3", e, tt.status, tt.sub, tt.pkg, tt.reason)
			}
		})
	}
}
