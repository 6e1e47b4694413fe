package lb

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/config"
)

// Health check types, the values of Health.Type.
const (
	HealthTCP  = "tcp"  // a connect (and the PROXY header, TLS handshake when configured) succeeds
	HealthHTTP = "http" // GET Path answers 200
)

// Health configures the active checks and passive ejection. The zero value
// of each field means the default written next to it.
type Health struct {
	Type     string        `yaml:"type"`     // HealthTCP ("" = this) or HealthHTTP
	Path     string        `yaml:"path"`     // HTTP checks' path; "" = /healthz
	Interval time.Duration `yaml:"interval"` // between checks of one backend; 0 = 1s
	Timeout  time.Duration `yaml:"timeout"`  // one check, connect to answer; 0 = 1s
	Rise     int           `yaml:"rise"`     // passing checks in a row that bring a backend up; 0 = 2
	Fall     int           `yaml:"fall"`     // failing checks in a row that take it down; 0 = 3
	// EjectAfter is how many failed connects of client traffic in a row
	// take a backend down before any check runs (passive ejection); 0 = 1.
	EjectAfter int `yaml:"eject_after"`
}

// Defaults for the zero values of Health.
const (
	DefaultHealthPath     = "/healthz"
	DefaultHealthInterval = time.Second
	DefaultHealthTimeout  = time.Second
	DefaultRise           = 2
	DefaultFall           = 3
	DefaultEjectAfter     = 1
)

func (h Health) withDefaults() Health {
	h.Type = cmp.Or(h.Type, HealthTCP)
	h.Path = cmp.Or(h.Path, DefaultHealthPath)
	h.Interval = cmp.Or(h.Interval, DefaultHealthInterval)
	h.Timeout = cmp.Or(h.Timeout, DefaultHealthTimeout)
	h.Rise = cmp.Or(h.Rise, DefaultRise)
	h.Fall = cmp.Or(h.Fall, DefaultFall)
	h.EjectAfter = cmp.Or(h.EjectAfter, DefaultEjectAfter)
	return h
}

func (h *Health) validate() []error {
	errs := []error{oneOf("health.type", h.Type, []string{HealthTCP, HealthHTTP})}
	if h.Path != "" && h.Path[0] != '/' {
		errs = append(errs, config.Errorf("health.path", "%q must start with /", h.Path))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"health.interval", int64(h.Interval)}, {"health.timeout", int64(h.Timeout)},
		{"health.rise", int64(h.Rise)}, {"health.fall", int64(h.Fall)},
		{"health.eject_after", int64(h.EjectAfter)},
	} {
		if f.v < 0 {
			errs = append(errs, config.Errorf(f.name, "%d is negative", f.v))
		}
	}
	return errs
}

// start runs the current generation's checks until ctx is done.
func (p *pool) start(ctx context.Context) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ctx, p.started = ctx, true
	p.startGen(p.gen.Load())
}

// swap installs g, ending the previous generation's checks.
func (p *pool) swap(g *generation) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.gen.Swap(g)
	if old.stop != nil {
		old.stop()
	}
	if p.started {
		p.startGen(g)
	}
}

func (p *pool) startGen(g *generation) {
	if p.stopped {
		return // Close ran first (a Serve whose context ended at once)
	}
	ctx, stop := context.WithCancel(p.ctx)
	g.stop = stop
	for _, u := range g.upstreams {
		p.wg.Add(1)
		go p.watch(ctx, g, u)
	}
}

// wait waits for every check loop to return, once their contexts end.
// Loops started after it would race its Wait, so none start after it.
func (p *pool) wait() {
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *pool) watch(ctx context.Context, g *generation, u *Upstream) {
	defer p.wg.Done()
	t := time.NewTicker(g.health.Interval)
	defer t.Stop()
	for {
		err := p.check(ctx, g.health, u)
		if ctx.Err() != nil {
			return
		}
		if isFDExhausted(err) {
			// Our own limit: the check says nothing of u, so it
			// counts neither way.
			p.fd.exhausted(fdOpHealth, err)
		} else {
			p.checked(g, u, err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check is one active check: a connect as client traffic would make it
// (PROXY header and TLS included), then for HTTP a GET that must answer 200.
func (p *pool) check(ctx context.Context, h Health, u *Upstream) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	conn, err := p.dial(ctx, u, nil, nil)
	if err != nil {
		return p.explainCheck(err)
	}
	defer conn.Close()
	if h.Type != HealthHTTP {
		return nil
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	return p.explainCheck(httpCheck(conn, u.Addr, h.Path))
}

// explainCheck adds the likely cause to a check that failed as a backend
// that does not read PROXY headers fails when sent one.
func (p *pool) explainCheck(err error) error {
	if err == nil || p.proxyHeader == "" || !refusedProxyHeader(err) {
		return err
	}
	return &proxyHeaderError{version: p.proxyHeader, err: err}
}

// proxyHeaderError is a check that failed right after the PROXY header.
type proxyHeaderError struct {
	version string
	err     error
}

func (e *proxyHeaderError) Error() string {
	return fmt.Sprintf("%v: the backend closed or answered garbage right after the PROXY %s header: it likely does not read PROXY headers from this balancer (make it trust this balancer's address, or unset proxy_protocol)", e.err, e.version)
}

func (e *proxyHeaderError) Unwrap() error { return e.err }

// refusedProxyHeader reports whether err is how a backend that does not
// expect a PROXY header answers one: a close, a reset, a 400 (an HTTP
// server reading it as a request line), a TLS alert or non-TLS bytes.
func refusedProxyHeader(err error) bool {
	var status errHealthStatus
	if errors.As(err, &status) {
		return status.code == http.StatusBadRequest
	}
	var alert tls.AlertError
	var record tls.RecordHeaderError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.As(err, &alert) || errors.As(err, &record) || strings.Contains(err.Error(), "malformed HTTP")
}

// errHealthStatus is an HTTP check's non-200 answer.
type errHealthStatus struct{ code int }

func (e errHealthStatus) Error() string { return fmt.Sprintf("answered %d; want 200", e.code) }

func httpCheck(conn net.Conn, host, path string) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+host+path, nil)
	if err != nil {
		return err
	}
	req.Close = true
	req.Header.Set("User-Agent", "krbfarm-lb-health")
	if err := req.Write(conn); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errHealthStatus{resp.StatusCode}
	}
	return nil
}

// checked records an active check: rise passes in a row bring u up, fall
// failures in a row take it down.
func (p *pool) checked(g *generation, u *Upstream, err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if err == nil {
		u.badRn, u.okRun = 0, u.okRun+1
		if u.okRun >= g.health.Rise {
			p.setHealthy(u, true, nil)
		}
		return
	}
	u.failures.Add(1)
	u.okRun, u.badRn = 0, u.badRn+1
	if u.badRn >= g.health.Fall {
		p.setHealthy(u, false, fmt.Errorf("health check: %w", err))
	}
}

// dialFailed records a failed connect of client traffic: eject_after of
// them in a row take u down at once, before any check notices.
func (p *pool) dialFailed(g *generation, u *Upstream, err error) {
	u.failures.Add(1)
	if int(u.dialFails.Add(1)) < g.health.EjectAfter {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.okRun = 0
	p.setHealthy(u, false, err)
}

func (p *pool) setHealthy(u *Upstream, up bool, err error) {
	if u.healthy.Swap(up) == up {
		return
	}
	if up {
		u.dialFails.Store(0)
		p.log.Info("backend up", zap.String("upstream", u.Name), zap.String("addr", u.Addr))
		return
	}
	p.log.Warn("backend down", zap.String("upstream", u.Name), zap.String("addr", u.Addr), zap.Error(err))
}
