package backend

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// browse is a browser's request (Accept: text/html) to s.
func browse(s *Site, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func mustContain(t *testing.T, what, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, body)
		}
	}
}

func TestHostPage(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server2", f.siteKT, nil)
	w := browse(s, mint(t, ticketSpec{kdc: f.kdc, mutual: true}))
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("got %d %q; want 200 text/html", w.Code, w.Header().Get("Content-Type"))
	}
	mustContain(t, "200 page", w.Body.String(),
		`<div class="name">server2</div>`, "--host: "+hostColour("server2"),
		"<h1>Hello, alice@"+testRealm+"</h1>",
		"<dt>mechanism</dt><dd>Kerberos</dd>", "YII…",
		"<dt>spn</dt><dd>"+testSPN+"</dd>",
		"<dt>kvno</dt><dd>2</dd>", "<dt>enctype</dt><dd>aes256-cts-hmac-sha1-96</dd>",
		"<dt>mutual</dt><dd>yes</dd>", "<dt>binding</dt><dd>none</dd>", "<dt>persisted</dt><dd>false</dd>")
	if strings.Contains(w.Body.String(), "http://") || strings.Contains(w.Body.String(), "https://") {
		t.Errorf("page refers to an external asset:\n%s", w.Body)
	}
}

func TestHostPageJSONKeepsFields(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	w := get(s, mint(t, ticketSpec{kdc: f.kdc, mutual: true}))
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatalf("JSON answer: %v\n%s", err, w.Body)
	}
	for _, k := range []string{"backend", "user", "spn", "realm", "kvno", "enctype", "mechanism", "remote", "auth_time", "end_time", "mutual"} {
		if _, ok := got[k]; !ok {
			t.Errorf("JSON answer lacks %q: %v", k, got)
		}
	}
}

func TestDeniedPageNamesReason(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	w := browse(s, mint(t, ticketSpec{kdc: f.wrongPW}))
	if w.Code != http.StatusUnauthorized || len(w.Header().Values("WWW-Authenticate")) == 0 {
		t.Fatalf("got %d %v; want 401 with a challenge", w.Code, w.Header())
	}
	mustContain(t, "401 page", w.Body.String(), "401 - Unauthorized: Access is denied due to invalid credentials.",
		`<div class="name">server1</div>`, ReasonModified, reasonNotes[ReasonModified][:40])

	w = browse(s, "")
	mustContain(t, "401 page without credentials", w.Body.String(), "401 - Unauthorized", "no credentials yet")

	w = get(s, mint(t, ticketSpec{kdc: f.wrongPW})) // not a browser: the one line IIS-like body
	if !strings.HasPrefix(w.Body.String(), "401 - Unauthorized: Access is denied") {
		t.Errorf("non-browser 401 body %q; want the one line", w.Body)
	}
}

func TestUnavailablePage(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, func(c *Config) { c.BatchLogonRight = ptr(false) })
	w := browse(s, "")
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("got %d; want 503", w.Code)
	}
	mustContain(t, "503 page", w.Body.String(), "Service Unavailable", "HTTP Error 503. The service is unavailable.",
		"Log on as a batch job", "5021", `<div class="name">server1</div>`)
}

// A principal like this cannot exist in the KDC, but the page must not
// trust that: every field is escaped.
func TestHostPageEscapesIdentity(t *testing.T) {
	s, _ := newSite(t, `server<b>1`, writeKeytab(t, newKeytab(t, testSPN, testPass, 2, aes256)), nil)
	hostile := `<script>alert(1)</script>"'&`
	id := &Identity{User: hostile + "@R", SPN: hostile, Realm: hostile, EncType: hostile, Mechanism: hostile,
		Binding: hostile, AuthTime: time.Now(), KVNO: 7}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = hostile
	w := httptest.NewRecorder()
	s.writeIdentity(w, r, id, false, false)
	out := w.Body.String()
	if strings.Contains(out, "<script>") || strings.Contains(out, "<b>") {
		t.Fatalf("hostile values reached the page unescaped:\n%s", out)
	}
	mustContain(t, "escaped page", out, "&lt;script&gt;alert(1)&lt;/script&gt;", "server&lt;b&gt;1", "<dt>kvno</dt><dd>7</dd>")

	w = httptest.NewRecorder()
	s.writePage(w, "denied", http.StatusUnauthorized, s.deniedPageFor(r, &AuthError{Name: hostile, Detail: hostile}))
	if strings.Contains(w.Body.String(), "<script>") {
		t.Fatalf("hostile reason reached the 401 page unescaped:\n%s", w.Body)
	}
}

func TestHostColour(t *testing.T) {
	names := []string{"server1", "server2", "server3"}
	hues := map[string]float64{}
	for _, n := range names {
		if hostColour(n) != hostColour(n) {
			t.Fatalf("colour of %s is not stable", n)
		}
		r, g, b := hostRGB(n)
		hues[n] = hueOf(r, g, b)
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			if d := hueDistance(hues[a], hues[b]); d < 40 {
				t.Errorf("%s (%s) and %s (%s) are %.0f° apart; want at least 40", a, hostColour(a), b, hostColour(b), d)
			}
		}
	}
	for h := 0.0; h < 360; h++ {
		if c := contrastWithWhite(darkEnough(h)); c < 4.5 {
			t.Errorf("hue %.0f: contrast with white %.2f; want at least 4.5", h, c)
		}
	}
}

func hueDistance(a, b float64) float64 {
	d := math.Abs(a - b)
	return math.Min(d, 360-d)
}

// hueOf is the HSL hue of r, g, b in degrees.
func hueOf(r8, g8, b8 uint8) float64 {
	r, g, b := float64(r8)/255, float64(g8)/255, float64(b8)/255
	mx, mn := math.Max(r, math.Max(g, b)), math.Min(r, math.Min(g, b))
	d := mx - mn
	var h float64
	switch {
	case d == 0:
		return 0
	case mx == r:
		h = math.Mod((g-b)/d, 6)
	case mx == g:
		h = (b-r)/d + 2
	default:
		h = (r-g)/d + 4
	}
	return math.Mod(h*60+360, 360)
}
