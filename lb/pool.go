package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Upstream is a backend as the balancer tracks it: its configuration, its
// health and its counters. Pickers see Upstreams; they must not keep them
// past the call.
type Upstream struct {
	Backend
	idx      int // position in the pool, for the per-connection tried set
	healthy  atomic.Bool
	active   atomic.Int64
	total    atomic.Uint64
	failures atomic.Uint64
}

// Healthy reports whether the last health check or dial succeeded.
func (u *Upstream) Healthy() bool { return u.healthy.Load() }

// Active is the number of client connections now proxied to u.
func (u *Upstream) Active() int64 { return u.active.Load() }

// BackendStatus is a snapshot of one backend, for status pages and tests.
type BackendStatus struct {
	Name     string `json:"name" yaml:"name"`
	Addr     string `json:"addr" yaml:"addr"`
	Healthy  bool   `json:"healthy" yaml:"healthy"`
	Active   int64  `json:"active" yaml:"active"`     // connections open now
	Total    uint64 `json:"total" yaml:"total"`       // connections proxied since start
	Failures uint64 `json:"failures" yaml:"failures"` // failed dials and health checks
}

// Picker chooses the backend for a new connection. Implementations must
// be safe for concurrent use. Later balancing methods (least connections,
// source hash, weights) are Pickers too.
type Picker interface {
	// Pick returns one of candidates, which holds at least one healthy
	// backend not yet tried for this connection; client is the client's
	// address.
	Pick(candidates []*Upstream, client net.Addr) *Upstream
}

// RoundRobin picks candidates in turn. Its zero value is ready to use.
type RoundRobin struct{ next atomic.Uint64 }

// Pick implements Picker.
func (r *RoundRobin) Pick(candidates []*Upstream, _ net.Addr) *Upstream {
	n := r.next.Add(1) - 1
	return candidates[n%uint64(len(candidates))]
}

// pool owns the backends: picking, dialing, and active health checks.
type pool struct {
	upstreams []*Upstream
	picker    Picker
	log       *zap.Logger
	dialer    net.Dialer
	interval  time.Duration
	timeout   time.Duration
	wg        sync.WaitGroup
}

// newPool expects cfg with defaults resolved. Backends start healthy: until
// the first check says otherwise, a backend is given the benefit of doubt.
func newPool(cfg Config, picker Picker, log *zap.Logger) *pool {
	p := &pool{
		picker:   picker,
		log:      log,
		dialer:   net.Dialer{Timeout: cfg.DialTimeout},
		interval: cfg.HealthInterval,
		timeout:  cfg.HealthTimeout,
	}
	for i, b := range cfg.Backends {
		u := &Upstream{Backend: b, idx: i}
		u.healthy.Store(true)
		p.upstreams = append(p.upstreams, u)
	}
	return p
}

// errNoBackend ends a connection no backend would take.
var errNoBackend = errors.New("no healthy backend")

// connect dials a backend for a client, trying each healthy backend at
// most once. A backend that fails the dial is marked down at once. When no
// healthy backend is left, the backends marked down are tried once each as
// a last resort (a health verdict may be stale: a host that just came up
// should not cost the client its connection), as nginx does. On success
// the caller must call release(u) when the connection ends.
func (p *pool) connect(ctx context.Context, client net.Addr) (net.Conn, *Upstream, error) {
	tried := make([]bool, len(p.upstreams))
	var errs []error
	lastResort := false
	for {
		cands := p.candidates(tried, lastResort)
		if len(cands) == 0 && !lastResort {
			lastResort = true
			continue
		}
		if len(cands) == 0 {
			return nil, nil, noBackendError(errs)
		}
		u := p.picker.Pick(cands, client)
		tried[u.idx] = true
		conn, err := p.dialer.DialContext(ctx, "tcp", u.Addr)
		if err == nil {
			p.succeed(u)
			u.total.Add(1)
			u.active.Add(1)
			return conn, u, nil
		}
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		err = fmt.Errorf("dial backend %s: %w", u.Name, err)
		p.fail(u, err)
		errs = append(errs, err)
	}
}

func noBackendError(errs []error) error {
	if len(errs) == 0 {
		return errNoBackend
	}
	return fmt.Errorf("%w (%d tried): %w", errNoBackend, len(errs), errors.Join(errs...))
}

func (p *pool) release(u *Upstream) { u.active.Add(-1) }

// candidates are the untried backends that are healthy or, as a last
// resort, down.
func (p *pool) candidates(tried []bool, down bool) []*Upstream {
	cands := make([]*Upstream, 0, len(p.upstreams))
	for _, u := range p.upstreams {
		if !tried[u.idx] && u.Healthy() != down {
			cands = append(cands, u)
		}
	}
	return cands
}

// fail counts a failed dial or check and marks u down.
func (p *pool) fail(u *Upstream, err error) {
	u.failures.Add(1)
	if u.healthy.Swap(false) {
		p.log.Warn("backend down", zap.String("upstream", u.Name), zap.String("addr", u.Addr), zap.Error(err))
	}
}

func (p *pool) succeed(u *Upstream) {
	if !u.healthy.Swap(true) {
		p.log.Info("backend up", zap.String("upstream", u.Name), zap.String("addr", u.Addr))
	}
}

// start runs one health-check loop per backend until ctx is done; wait
// waits for them to return.
func (p *pool) start(ctx context.Context) {
	for _, u := range p.upstreams {
		p.wg.Add(1)
		go p.watch(ctx, u)
	}
}

func (p *pool) wait() { p.wg.Wait() }

func (p *pool) watch(ctx context.Context, u *Upstream) {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.check(ctx, u)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check is the active TCP check: connect, then close at once.
func (p *pool) check(ctx context.Context, u *Upstream) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Addr)
	if err == nil {
		conn.Close()
		p.succeed(u)
		return
	}
	if errors.Is(ctx.Err(), context.Canceled) { // the server is closing
		return
	}
	p.fail(u, fmt.Errorf("health check %s: %w", u.Name, err))
}

func (p *pool) status() []BackendStatus {
	out := make([]BackendStatus, len(p.upstreams))
	for i, u := range p.upstreams {
		out[i] = BackendStatus{
			Name:     u.Name,
			Addr:     u.Addr,
			Healthy:  u.Healthy(),
			Active:   u.Active(),
			Total:    u.total.Load(),
			Failures: u.failures.Load(),
		}
	}
	return out
}
