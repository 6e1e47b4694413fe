package backend

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkHandler is one logon end to end: a fresh mutual-auth token
// per request, verified, answered 200 with the AP-REP, and the JSON
// identity. "recorder" calls the Site's handler directly; "conn=new" and
// "conn=keepalive" go through the Site's own server on 127.0.0.1 with a
// new TCP connection per request or one kept alive (the client's cost is
// in those figures too: it runs in the same process). "page" is what
// make authbench's load generator sends: no Accept header (so the 200 is
// the HTML page) and no mutual authentication (gokrb5's client).
func BenchmarkHandler(b *testing.B) {
	f := newFixture(b)
	b.Run("recorder", func(b *testing.B) { benchRecorder(b, f, false) })
	b.Run("recorder/body=page", func(b *testing.B) { benchRecorder(b, f, true) })
	for _, page := range []bool{false, true} {
		for _, keepAlive := range []bool{false, true} {
			name := map[bool]string{false: "conn=new", true: "conn=keepalive"}[keepAlive]
			if page {
				name += "/body=page"
			}
			b.Run(name, func(b *testing.B) { benchServe(b, f, keepAlive, page) })
		}
	}
}

// benchRecorder calls the Site's handler directly with b.N fresh tokens:
// JSON with mutual authentication, or (page) as make authbench does.
func benchRecorder(b *testing.B, f *fixture, page bool) {
	s := benchSite(b, f)
	toks := benchTokensMutual(b, f, b.N, !page)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if !page {
			r.Header.Set("Accept", "application/json")
		}
		r.Header.Set("Authorization", toks[i])
		s.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Header().Get("WWW-Authenticate") == "" {
			b.Fatalf("status %d, WWW-Authenticate %q; want 200 and a reply", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

// benchServe sends b.N fresh tokens to the Site's server: JSON with
// mutual authentication, or (page) as make authbench does.
func benchServe(b *testing.B, f *fixture, keepAlive, page bool) {
	s := benchSite(b, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	tr := &http.Transport{DisableKeepAlives: !keepAlive}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + ln.Addr().String() + "/"
	toks := benchTokensMutual(b, f, b.N, !page)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if !page {
			req.Header.Set("Accept", "application/json")
		}
		req.Header.Set("Authorization", toks[i])
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("WWW-Authenticate") == "" {
			b.Fatalf("status %d; want 200 and a reply", resp.StatusCode)
		}
	}
}

func benchSite(b *testing.B, f *fixture) *Site {
	s, err := New(Config{Name: "server1", Keytab: f.siteKT, SPN: testSPN, Realm: testRealm}, benchLogger(false))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchTokens mints n mutual-auth tokens with distinct ctimes (no replays).
func benchTokens(b *testing.B, f *fixture, n int) []string {
	return benchTokensMutual(b, f, n, true)
}

// benchTokensMutual mints n tokens with distinct ctimes (no replays),
// asking for mutual authentication or not.
func benchTokensMutual(b *testing.B, f *fixture, n int, mutual bool) []string {
	toks := make([]string, n)
	t0 := time.Now().UTC()
	for i := range toks {
		toks[i] = mint(b, ticketSpec{kdc: f.kdc, mutual: mutual, ctime: t0.Add(-time.Duration(i) * time.Microsecond)})
	}
	return toks
}
