package backend

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// TestOKPageCacheMatchesTemplate checks the cached 200 page is, byte for
// byte, what the template renders, on the first request (rendered) and the
// next (cached), for addresses the cache takes and those it leaves to the
// template.
func TestOKPageCacheMatchesTemplate(t *testing.T) {
	f := newFixture(t)
	s, _ := newSite(t, "server1", f.siteKT, nil)
	base := hostPage{Host: "server1", Colour: s.colour, Sub: "Kerberos logon on server1", User: "alice@" + testRealm,
		Mechanism: mechKerberos, SPN: testSPN, Realm: testRealm, KVNO: 2, EncType: "aes256-cts-hmac-sha1-96",
		Mutual: "no", Binding: "none", TLS: "none on this hop"}
	odd := base
	odd.User = "<b>" + remotePlaceholder + "&'\"@" + testRealm
	for _, tc := range []struct {
		name   string
		page   hostPage
		remote []string
	}{
		{"ipv4", base, []string{"127.0.0.1:40000", "127.0.0.1:40001"}},
		{"ipv6 zone", base, []string{"[fe80::1%lo]:443", "[::1]:8080"}},
		{"address the template escapes", base, []string{"a+b<c>:1", "x&y:2"}},
		{"placeholder in a value", odd, []string{"127.0.0.1:1", "127.0.0.1:2"}},
		{"empty address", base, []string{"", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, remote := range tc.remote {
				p := tc.page
				p.Remote = remote
				var want bytes.Buffer
				if err := pages.ExecuteTemplate(&want, "ok", p); err != nil {
					t.Fatal(err)
				}
				w := httptest.NewRecorder()
				s.writeOKPage(w, p)
				if w.Code != http.StatusOK || w.Body.String() != want.String() {
					t.Fatalf("remote %q: got %d\n%s\nwant 200\n%s", remote, w.Code, w.Body, want.String())
				}
				if cl := w.Header().Get("Content-Length"); cl != "" && cl != strconv.Itoa(want.Len()) {
					t.Errorf("remote %q: Content-Length %s; want %d", remote, cl, want.Len())
				}
			}
		})
	}
}
