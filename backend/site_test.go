package backend

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fixture holds the keytabs of a farm: the site's and the KDC's views.
type fixture struct {
	siteKT  string         // keytab file: testSPN kvno 2, aes256 + rc4
	rc4KT   string         // keytab file: testSPN kvno 2, rc4 only
	kdc     *keytab.Keytab // same keys as siteKT, plus kvno 3 and another SPN
	wrongPW *keytab.Keytab // testSPN kvno 2 from another password
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	kdc := newKeytab(t, testSPN, testPass, 2, aes256, rc4)
	kdc.Entries = append(kdc.Entries, newKeytab(t, testSPN, "new-password", 3, aes256).Entries...)
	kdc.Entries = append(kdc.Entries, newKeytab(t, "HTTP/other.krbfarm.localhost", testPass, 2, aes256).Entries...)
	return &fixture{
		siteKT:  writeKeytab(t, newKeytab(t, testSPN, testPass, 2, aes256, rc4)),
		rc4KT:   writeKeytab(t, newKeytab(t, testSPN, testPass, 2, rc4)),
		kdc:     kdc,
		wrongPW: newKeytab(t, testSPN, "another-password", 2, aes256),
	}
}

// newSite returns a Site on keytab path and the observer of its logs.
func newSite(t testing.TB, name, path string, mod func(*Config)) (*Site, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cfg := Config{Name: name, Keytab: path, SPN: testSPN, Realm: testRealm}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, zap.New(core))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, logs
}

func get(s *Site, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept", "application/json")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func negotiate(b []byte) string { return "Negotiate " + base64.StdEncoding.EncodeToString(b) }

func TestServeHTTP(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC()
	tests := []struct {
		name   string
		keytab string // "" = f.siteKT
		mod    func(*Config)
		auth   func(t *testing.T) string
		status int
		reason string // "" = no Warn line
	}{
		{name: "valid SPNEGO", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc}) }, status: 200},
		{name: "valid raw KRB5", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc, raw: true}) }, status: 200},
		{name: "valid rc4", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc, etype: rc4}) }, status: 200},
		{name: "any SPN in keytab", mod: func(c *Config) { c.SPN, c.Realm = "", "" },
			auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc}) }, status: 200},
		{name: "no header", status: 401},
		{name: "wrong key same kvno", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.wrongPW}) },
			status: 401, reason: ReasonModified},
		{name: "kvno 3, keytab has kvno 2", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc, kvno: 3}) },
			status: 401, reason: ReasonBadKeyVer},
		{name: "aes ticket, rc4-only keytab", keytab: f.rc4KT,
			auth:   func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc}) },
			status: 401, reason: ReasonNoKey},
		{name: "authenticator 10m old", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc, ctime: now.Add(-10 * time.Minute)}) },
			status: 401, reason: ReasonSkew},
		{name: "host clock 10m ahead", mod: func(c *Config) { c.ClockOffset = 10 * time.Minute },
			auth:   func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc}) },
			status: 401, reason: ReasonSkew},
		{name: "ticket expired", auth: func(t *testing.T) string {
			return mint(t, ticketSpec{kdc: f.kdc, start: now.Add(-11 * time.Hour), end: now.Add(-time.Hour)})
		}, status: 401, reason: ReasonTktExpired},
		{name: "ticket not yet valid", auth: func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc, start: now.Add(time.Hour)}) },
			status: 401, reason: ReasonTktNYV},
		{name: "ticket for another SPN", auth: func(t *testing.T) string {
			return mint(t, ticketSpec{kdc: f.kdc, spn: "HTTP/other.krbfarm.localhost"})
		}, status: 401, reason: ReasonNotUs},
		{name: "garbage base64", auth: func(*testing.T) string { return "Negotiate !!!not-base64***" }, status: 401, reason: ReasonMalformed},
		{name: "garbage bytes", auth: func(*testing.T) string { return negotiate([]byte("YII garbage")) }, status: 401, reason: ReasonMalformed},
		{name: "empty Negotiate", auth: func(*testing.T) string { return "Negotiate" }, status: 401, reason: ReasonMalformed},
		{name: "Basic scheme", auth: func(*testing.T) string { return "Basic YWxpY2U6cHc=" }, status: 401, reason: ReasonMalformed},
		{name: "NTLM type 1, Kerberos only", mod: kerberosOnly, auth: func(*testing.T) string { return negotiate(ntlmType1()) },
			status: 401, reason: ReasonNTLM},
		{name: "NTLM scheme, Kerberos only", mod: kerberosOnly,
			auth:   func(*testing.T) string { return "NTLM " + base64.StdEncoding.EncodeToString(ntlmType1()) },
			status: 401, reason: ReasonNTLM},
		{name: "NTLM in SPNEGO, Kerberos only", mod: kerberosOnly, auth: func(t *testing.T) string {
			return negotiate(spnegoInit(t, []asn1.ObjectIdentifier{oidNTLM()}, ntlmType1()))
		}, status: 401, reason: ReasonNTLM},
		{name: "Kerberos, NTLM only", mod: func(c *Config) { c.Providers = []string{"NTLM"} },
			auth:   func(t *testing.T) string { return mint(t, ticketSpec{kdc: f.kdc}) },
			status: 401, reason: ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.keytab
			if path == "" {
				path = f.siteKT
			}
			s, logs := newSite(t, "server1", path, tt.mod)
			auth := ""
			if tt.auth != nil {
				auth = tt.auth(t)
			}
			w := get(s, auth)
			if w.Code != tt.status {
				t.Fatalf("status = %d; want %d (logs: %v)", w.Code, tt.status, logs.All())
			}
			checkResponse(t, w, tt.status)
			checkWarn(t, logs, tt.reason, auth)
		})
	}
}

// kerberosOnly leaves NTLM out of the providers.
func kerberosOnly(c *Config) { c.Providers = []string{ProviderNegotiate} }

func checkResponse(t *testing.T, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if got := w.Header().Get("X-Backend"); got != "server1" {
		t.Errorf("X-Backend = %q; want %q", got, "server1")
	}
	if status == 401 {
		if got := w.Header().Values("WWW-Authenticate"); len(got) == 0 || !strings.HasPrefix(got[0], "Negotiate") && got[0] != "NTLM" {
			t.Errorf("WWW-Authenticate = %q; want the providers", got)
		}
		return
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	want := map[string]any{"backend": "server1", "user": "alice@" + testRealm, "mechanism": "Kerberos",
		"spn": testSPN, "kvno": float64(2)}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("body[%q] = %v; want %v", k, body[k], v)
		}
	}
	if body["enctype"] == "" || body["remote"] == "" {
		t.Errorf("body lacks enctype or remote: %v", body)
	}
}

// checkWarn asserts exactly one Warn line with the reason when one is
// expected (none otherwise), and that no log line carries the token.
func checkWarn(t *testing.T, logs *observer.ObservedLogs, reason, auth string) {
	t.Helper()
	warns := logs.FilterLevelExact(zapcore.WarnLevel).All()
	if reason == "" {
		if len(warns) != 0 {
			t.Errorf("got %d Warn lines; want none: %v", len(warns), warns)
		}
	} else if len(warns) != 1 {
		t.Fatalf("got %d Warn lines; want 1: %v", len(warns), warns)
	} else {
		checkFields(t, warns[0], reason)
	}
	_, tok, _ := strings.Cut(auth, " ")
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && len(tok) > 8 && strings.Contains(s, tok) {
				t.Errorf("log field %q contains the token", k)
			}
		}
	}
}

func checkFields(t *testing.T, e observer.LoggedEntry, reason string) {
	t.Helper()
	m := e.ContextMap()
	if m["reason"] != reason {
		t.Errorf("reason = %v; want %s (detail: %v)", m["reason"], reason, m["detail"])
	}
	if b, _ := m["backend"].(string); !strings.HasPrefix(b, "server") {
		t.Errorf("backend = %v; want the site name", m["backend"])
	}
	for _, k := range []string{"remote", "code", "detail"} {
		if _, ok := m[k]; !ok {
			t.Errorf("log line lacks key %q: %v", k, m)
		}
	}
}
