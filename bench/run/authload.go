package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// tokenMaker builds fresh SPNEGO Authorization values for one SPN: the
// service ticket is fetched once, then each token is a new AP-REQ with a
// new authenticator (new time, sequence number and confounder), as a
// browser sends on each new connection.
type tokenMaker struct {
	cl  *krbclient.Client
	ctx *spnego.SPNEGO
}

// newTokenMaker logs user in and gets the service ticket for spn.
func newTokenMaker(krb5conf, user, realm, password, spn string) (*tokenMaker, error) {
	kc, err := krbconfig.Load(krb5conf)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", krb5conf, err)
	}
	cl := krbclient.NewWithPassword(user, realm, password, kc, krbclient.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		return nil, fmt.Errorf("kerberos login as %s@%s: %w", user, realm, err)
	}
	s := spnego.SPNEGOClient(cl, spn)
	if err := s.AcquireCred(); err != nil {
		cl.Destroy()
		return nil, fmt.Errorf("service ticket for %s: %w", spn, err)
	}
	t := &tokenMaker{cl: cl, ctx: s}
	if _, err := t.token(); err != nil {
		cl.Destroy()
		return nil, err
	}
	return t, nil
}

// token is one fresh "Negotiate ..." header value.
func (t *tokenMaker) token() (string, error) {
	st, err := t.ctx.InitSecContext() // the ticket comes from the client's cache
	if err != nil {
		return "", fmt.Errorf("SPNEGO token: %w", err)
	}
	b, err := st.Marshal()
	if err != nil {
		return "", fmt.Errorf("SPNEGO token: %w", err)
	}
	return "Negotiate " + base64.StdEncoding.EncodeToString(b), nil
}

func (t *tokenMaker) close() { t.cl.Destroy() }

// tokenPool hands out tokens built before a run, so building them does
// not count against the load generator's one CPU during it; once it runs
// dry, tokens are built on the spot and counted.
type tokenPool struct {
	maker  *tokenMaker
	tokens []string
	next   atomic.Int64
	inline atomic.Int64 // tokens built during the run
}

// fill builds n tokens.
func (p *tokenPool) fill(n int) error {
	p.tokens = p.tokens[:0]
	p.next.Store(0)
	p.inline.Store(0)
	for range n {
		t, err := p.maker.token()
		if err != nil {
			return err
		}
		p.tokens = append(p.tokens, t)
	}
	return nil
}

func (p *tokenPool) get() (string, error) {
	if i := p.next.Add(1) - 1; i < int64(len(p.tokens)) {
		return p.tokens[i], nil
	}
	p.inline.Add(1)
	return p.maker.token()
}

// authLoad is one shape of authenticated load.
type authLoad struct {
	name      string
	conns     int
	keepAlive bool // false: a new TCP connection per request
}

// authTarget is one front door under test: a host, or a farm.
type authTarget struct {
	url  string
	pids []int       // the processes whose CPU counts (each with its children)
	tls  *tls.Config // for https URLs: the client's TLS settings
	dial string      // when set, every connection goes to this address whatever the URL's host
}

// transport is a fresh client transport for t under load l: without
// keep-alive, every request opens a new connection (and, over TLS, does
// a full handshake: the client keeps no session cache, so nothing is
// resumed).
func (t authTarget) transport(l authLoad) *http.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second}
	dial := d.DialContext
	if t.dial != "" {
		dial = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, t.dial)
		}
	}
	return &http.Transport{DisableKeepAlives: !l.keepAlive, MaxIdleConnsPerHost: l.conns, Proxy: nil,
		DialContext: dial, TLSClientConfig: t.tls, TLSHandshakeTimeout: 5 * time.Second}
}

// authResult is one run's outcome.
type authResult struct {
	ok, failed int
	elapsed    time.Duration
	p50, p99   time.Duration
	inline     int64          // tokens the pool did not hold
	served     map[string]int // 200s per X-Backend header value ("" = none)
	firstErr   error
}

func (r authResult) rate() float64 { return float64(r.ok) / r.elapsed.Seconds() }

// runAuthLoad sends authenticated GETs to t from l.conns goroutines for
// d, each with a fresh token, and counts 200s.
func runAuthLoad(ctx context.Context, t authTarget, l authLoad, d time.Duration, pool *tokenPool) authResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	tr := t.transport(l)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var (
		mu  sync.Mutex
		res = authResult{served: map[string]int{}}
		lat []time.Duration
		wg  sync.WaitGroup
	)
	start := time.Now()
	for range l.conns {
		wg.Go(func() {
			w := authWorker(ctx, c, t.url, pool)
			mu.Lock()
			res.ok, res.failed = res.ok+w.ok, res.failed+w.failed
			res.firstErr = cmpOr(res.firstErr, w.firstErr)
			lat = append(lat, w.lat...)
			for h, n := range w.served {
				res.served[h] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	res.p50, res.p99 = percentile(lat, 50), percentile(lat, 99)
	res.inline = pool.inline.Load()
	return res
}

type workerResult struct {
	ok, failed int
	lat        []time.Duration
	served     map[string]int
	firstErr   error
}

// authWorker sends requests one after the other until ctx ends; a
// request cut short by the end of the run counts neither way.
func authWorker(ctx context.Context, c *http.Client, url string, pool *tokenPool) workerResult {
	w := workerResult{served: map[string]int{}}
	for ctx.Err() == nil {
		tok, err := pool.get()
		if err != nil {
			w.failed++
			w.firstErr = cmpOr(w.firstErr, err)
			return w
		}
		t0 := time.Now()
		status, host, err := authGet(ctx, c, url, tok)
		switch {
		case ctx.Err() != nil:
		case err != nil || status != http.StatusOK:
			w.failed++
			w.firstErr = cmpOr(w.firstErr, cmpOr(err, fmt.Errorf("status %d", status)))
		default:
			w.ok++
			w.lat = append(w.lat, time.Since(t0))
			w.served[host]++
		}
	}
	return w
}

// authGet sends one GET with the Authorization value tok; it returns the
// status and the X-Backend header (which host answered).
func authGet(ctx context.Context, c *http.Client, url, tok string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", tok)
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, res.Header.Get(backendHeader), nil
}

// backendHeader names the host that answered: krbfarm's hosts send it,
// the bench's Apache hosts are configured to.
const backendHeader = "X-Backend"

// percentile is the p-th percentile of xs (nearest rank); 0 for none.
func percentile(xs []time.Duration, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// cmpOr is a when not nil, else b.
func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
