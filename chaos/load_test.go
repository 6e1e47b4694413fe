//go:build linux

package chaos

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// requestTimeout bounds one request: longer than any fault's stall.
const requestTimeout = 30 * time.Second

// client makes SPNEGO tokens for HTTP/<fqdn> from the farm's ccache.
type client struct {
	krb  *krbclient.Client
	spn  string
	fqdn string
	ca   *x509.CertPool
	mu   sync.Mutex
	last int64 // microsecond of the last token's authenticator
}

func newClient(t testing.TB, f *farm) *client {
	t.Helper()
	cfg, err := config.Load(f.Krb5Conf)
	if err != nil {
		t.Fatalf("krb5.conf: %v", err)
	}
	cc, err := credentials.LoadCCache(f.ccache)
	if err != nil {
		t.Fatalf("ccache: %v", err)
	}
	cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		t.Fatalf("client from ccache: %v", err)
	}
	pem, err := os.ReadFile(f.CACert)
	if err != nil {
		t.Fatal(err)
	}
	ca := x509.NewCertPool()
	ca.AppendCertsFromPEM(pem)
	return &client{krb: cl, spn: "HTTP/" + f.FQDN, fqdn: f.FQDN, ca: ca}
}

// authorize sets a Negotiate header with a fresh authenticator. Tokens
// are made one at a time, each in a later microsecond than the last: the
// hosts' replay cache knows an authenticator by its client time to the
// microsecond, so two in the same one would be a (true) replay.
func (c *client) authorize(req *http.Request) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := 0; i < 100000 && time.Now().UnixMicro() <= c.last; i++ {
		runtime.Gosched()
	}
	err := spnego.SetSPNEGOHeader(c.krb, req, c.spn)
	c.last = time.Now().UnixMicro()
	return err
}

func (c *client) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: c.ca, ServerName: c.fqdn, MinVersion: tls.VersionTLS12}
}

// target is where requests go: https (through a balancer) or http (to a
// host directly), always to dial, with the farm's FQDN as the name.
type target struct {
	dial string
	tls  bool
}

// httpClient opens a new connection for each request, so each one is
// balanced anew.
func (c *client) httpClient(to target) *http.Client {
	tr := &http.Transport{
		DisableKeepAlives: true,
		Proxy:             nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", to.dial)
		},
		TLSClientConfig: c.tlsConfig(),
	}
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

func (to target) url(fqdn string) string {
	if to.tls {
		return "https://" + fqdn + "/"
	}
	return "http://" + fqdn + "/"
}

// result is one request's outcome.
type result struct {
	start, end time.Time
	status     int
	err        error
	wrote      bool // the request was sent: a failure after that is not a clean refusal
}

func (r result) ok() bool { return r.err == nil && r.status == http.StatusOK }

// do sends one authenticated GET.
func (c *client) do(hc *http.Client, to target) result {
	r := result{start: time.Now()}
	defer func() { r.end = time.Now() }()
	req, err := http.NewRequest(http.MethodGet, to.url(c.fqdn), nil)
	if err == nil {
		err = c.authorize(req)
	}
	if err != nil {
		r.err, r.end = fmt.Errorf("token: %w", err), time.Now()
		return r
	}
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { r.wrote = true }}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
	resp, err := hc.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.status = resp.StatusCode
	}
	r.err, r.end = err, time.Now()
	return r
}

// load is authenticated requests sent by workers until stopped.
type load struct {
	c    *client
	to   target
	hc   *http.Client
	sent atomic.Int64
	mu   sync.Mutex
	res  []result
	stop chan struct{}
	wg   sync.WaitGroup
}

// maxPerWorker bounds each worker's loop.
const maxPerWorker = 100000

func (c *client) startLoad(t testing.TB, to target, workers int) *load {
	l := &load{c: c, to: to, hc: c.httpClient(to), stop: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go l.work()
	}
	t.Cleanup(func() { l.finish(t) })
	return l
}

func (l *load) work() {
	defer l.wg.Done()
	for range maxPerWorker {
		select {
		case <-l.stop:
			return
		default:
		}
		l.sent.Add(1)
		l.add(l.c.do(l.hc, l.to))
	}
}

func (l *load) add(r result) {
	l.mu.Lock()
	l.res = append(l.res, r)
	l.mu.Unlock()
}

// count counts the results started after since that match.
func (l *load) count(since time.Time, match func(result) bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.res {
		if r.start.After(since) && match(r) {
			n++
		}
	}
	return n
}

// waitOK waits, up to 60 s, for n requests started after since to succeed.
func (l *load) waitOK(t testing.TB, since time.Time, n int) {
	t.Helper()
	if !poll(60*time.Second, func() bool { return l.count(since, result.ok) >= n }) {
		t.Fatalf("load: fewer than %d requests succeeded within 60 s (%d did); last: %s", n, l.count(since, result.ok), l.lastErr())
	}
}

func (l *load) lastErr() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.res) - 1; i >= 0; i-- {
		if !l.res[i].ok() {
			return describe(l.res[i])
		}
	}
	return "no failure"
}

// finish stops the workers, waits for the requests in flight (each is
// bounded by requestTimeout) and returns every outcome. Safe twice.
func (l *load) finish(t testing.TB) []result {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(requestTimeout + 10*time.Second):
		t.Errorf("load: workers still busy %v after stop", requestTimeout+10*time.Second)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]result(nil), l.res...)
}

func describe(r result) string {
	if r.err != nil {
		return fmt.Sprintf("error after %v (request sent: %v): %v", r.end.Sub(r.start).Round(time.Millisecond), r.wrote, r.err)
	}
	return fmt.Sprintf("status %d after %v", r.status, r.end.Sub(r.start).Round(time.Millisecond))
}
