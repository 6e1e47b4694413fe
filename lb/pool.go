package lb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// Upstream is a backend as the balancer tracks it: its configuration, its
// health and its counters. Pickers see Upstreams; they must not keep them
// past the call.
type Upstream struct {
	Backend            // as configured, with defaults resolved
	idx            int // position in its generation, for the per-connection tried set
	*upstreamState     // survives a Reload that keeps the backend's name and address
}

// upstreamState is what a backend accumulates over its life.
type upstreamState struct {
	healthy   atomic.Bool
	active    atomic.Int64
	total     atomic.Uint64
	failures  atomic.Uint64
	bytesIn   atomic.Uint64 // client to backend, counted when a connection ends
	bytesOut  atomic.Uint64 // backend to client
	dialFails atomic.Int32  // consecutive failed connects (passive checks)

	mu           sync.Mutex // the active checks' runs
	okRun, badRn int
}

// Healthy reports whether the backend takes new connections.
func (u *Upstream) Healthy() bool { return u.healthy.Load() }

// Active is the number of client connections now proxied to u.
func (u *Upstream) Active() int64 { return u.active.Load() }

func (u *Upstream) weight() int { return u.Weight }

// full reports whether u is at its max_conns.
func (u *Upstream) full() bool { return u.MaxConns > 0 && u.active.Load() >= int64(u.MaxConns) }

// acquire takes one of u's connection slots, failing when u is full.
func (u *Upstream) acquire() bool {
	if u.MaxConns == 0 {
		u.active.Add(1)
		return true
	}
	for {
		n := u.active.Load()
		if n >= int64(u.MaxConns) {
			return false
		}
		if u.active.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// BackendStatus is a snapshot of one backend, for status pages and tests.
type BackendStatus struct {
	Name     string `json:"name" yaml:"name"`
	Addr     string `json:"addr" yaml:"addr"`
	Weight   int    `json:"weight" yaml:"weight"`
	MaxConns int    `json:"max_conns" yaml:"max_conns"` // 0: no limit
	Healthy  bool   `json:"healthy" yaml:"healthy"`
	Active   int64  `json:"active" yaml:"active"`       // connections open now
	Total    uint64 `json:"total" yaml:"total"`         // connections proxied since start
	Failures uint64 `json:"failures" yaml:"failures"`   // failed connects and health checks
	BytesIn  uint64 `json:"bytes_in" yaml:"bytes_in"`   // client to backend, of ended connections
	BytesOut uint64 `json:"bytes_out" yaml:"bytes_out"` // backend to client, of ended connections
}

// Picker chooses the backend for a new connection. Implementations must
// be safe for concurrent use. RoundRobin, LeastConn and SourceHash are the
// ones Config.Balance names.
type Picker interface {
	// Pick returns one of candidates, which holds at least one healthy
	// backend not yet tried for this connection and not at its
	// max_conns; client is the client's address, which Pick must not
	// keep past the call.
	Pick(candidates []*Upstream, client net.Addr) *Upstream
}

// generation is one configuration of the pool: Reload swaps it whole.
type generation struct {
	upstreams []*Upstream
	picker    Picker
	health    Health
	balance   string
	stop      context.CancelFunc // ends this generation's health checks
}

// dialFunc opens a connection ready for proxying to u: TCP, then the PROXY
// header and the TLS handshake when configured.
type dialFunc func(ctx context.Context, u *Upstream, client, front net.Addr) (net.Conn, error)

// pool owns the backends: picking, connecting, and health.
type pool struct {
	gen  atomic.Pointer[generation]
	dial dialFunc
	fd   *fdGuard
	log  *zap.Logger
	wg   sync.WaitGroup // health-check loops of every generation
	// proxyHeader is Config.ProxyProtocol: checks that fail as a backend
	// not reading PROXY headers would fail say so; "" = no header sent.
	proxyHeader string

	mu      sync.Mutex // serialises start and swap
	ctx     context.Context
	started bool
	stopped bool // wait was called: no check loop starts after it (WaitGroup rule)
}

// newGeneration expects cfg with defaults resolved. A backend whose name
// and address are in prev keeps its health and counters; a new one starts
// healthy: until a check says otherwise, it gets the benefit of doubt.
func newGeneration(cfg Config, prev *generation) *generation {
	old := map[[2]string]*upstreamState{}
	if prev != nil {
		for _, u := range prev.upstreams {
			old[[2]string{u.Name, u.Addr}] = u.upstreamState
		}
	}
	g := &generation{picker: newPicker(cfg.Balance), health: cfg.Health, balance: cfg.Balance}
	for i, b := range cfg.Backends {
		st := old[[2]string{b.Name, b.Addr}]
		if st == nil {
			st = &upstreamState{}
			st.healthy.Store(true)
		}
		g.upstreams = append(g.upstreams, &Upstream{Backend: b, idx: i, upstreamState: st})
	}
	return g
}

func newPool(g *generation, dial dialFunc, fd *fdGuard, log *zap.Logger) *pool {
	p := &pool{dial: dial, fd: fd, log: log}
	p.gen.Store(g)
	return p
}

// errNoBackend ends a connection no backend would take.
var errNoBackend = errors.New("no healthy backend")

// connect opens a backend connection for a client, trying each candidate
// at most once, so a dead backend costs the client only a retry. On
// success the caller must call release(u) when the connection ends.
func (p *pool) connect(ctx context.Context, client, front net.Addr) (net.Conn, *Upstream, error) {
	a := p.newAttempt()
	for {
		u, err := a.next(client)
		if err != nil {
			return nil, nil, err
		}
		conn, err := p.dial(ctx, u, client, front)
		if err == nil {
			a.connected(u)
			return conn, u, nil
		}
		if ctx.Err() != nil {
			a.abandon(u)
			return nil, nil, ctx.Err()
		}
		if isFDExhausted(err) { // our limit, not u's fault
			a.abandon(u)
			p.fd.exhausted(fdOpDial, err)
			return nil, nil, fmt.Errorf("connect backend %s: %w", u.Name, err)
		}
		a.failed(u, err)
	}
}

// attempt is the search for a backend for one client connection: next
// picks and takes a slot on a backend not tried yet; connected or failed
// reports how its connect went. The event-loop engine drives it without
// blocking; connect drives it with a blocking dial.
type attempt struct {
	p     *pool
	g     *generation
	tried triedSet
	errs  []error
}

func (p *pool) newAttempt() attempt {
	g := p.gen.Load()
	return attempt{p: p, g: g, tried: newTriedSet(len(g.upstreams))}
}

// next returns a backend to connect to, holding one of its slots, or the
// error saying why none is left.
func (a *attempt) next(client net.Addr) (*Upstream, error) {
	var buf [8]*Upstream
	return a.nextIn(buf[:0], client)
}

// nextIn is next with buf, empty, to gather the candidates in: the
// picker's interface call makes a local array escape to the heap, so the
// event loops pass one their relay holds.
func (a *attempt) nextIn(buf []*Upstream, client net.Addr) (*Upstream, error) {
	for {
		cands := candidates(buf[:0], a.g.upstreams, a.tried.has)
		if len(cands) == 0 {
			return nil, noBackendError(a.g, a.errs)
		}
		u := a.g.picker.Pick(cands, client)
		a.tried.add(u.idx)
		if u.acquire() {
			return u, nil
		}
		// filled up since candidates looked
	}
}

// connected counts a connection to u that next returned.
func (a *attempt) connected(u *Upstream) {
	u.total.Add(1)
	if u.dialFails.Load() != 0 {
		u.dialFails.Store(0)
	}
}

// abandon gives back u's slot without blaming u: the connect was cut
// short by the server or failed for want of a local resource.
func (a *attempt) abandon(u *Upstream) { u.active.Add(-1) }

// failed gives back u's slot and counts the failure towards its passive
// ejection.
func (a *attempt) failed(u *Upstream, err error) {
	u.active.Add(-1)
	err = fmt.Errorf("connect backend %s: %w", u.Name, err)
	a.p.dialFailed(a.g, u, err)
	a.errs = append(a.errs, err)
}

// triedSet holds the backends tried for one connection: a bit mask, with
// no allocation, up to 64 backends.
type triedSet struct {
	bits uint64
	more []bool
}

func newTriedSet(n int) triedSet {
	if n > 64 {
		return triedSet{more: make([]bool, n)}
	}
	return triedSet{}
}

func (t *triedSet) add(i int) {
	if t.more != nil {
		t.more[i] = true
		return
	}
	t.bits |= 1 << i
}

func (t *triedSet) has(i int) bool {
	if t.more != nil {
		return t.more[i]
	}
	return t.bits&(1<<i) != 0
}

func noBackendError(g *generation, errs []error) error {
	full := 0
	for _, u := range g.upstreams {
		if u.Healthy() && u.full() {
			full++
		}
	}
	err := fmt.Errorf("%w (%d failed, %d at max_conns)", errNoBackend, len(errs), full)
	if len(errs) == 0 { // every backend down or full: nothing was tried
		return err
	}
	return fmt.Errorf("%w: %w", err, errors.Join(errs...))
}

// release ends a connection to u, counting its bytes.
func (p *pool) release(u *Upstream, in, out int64) {
	u.active.Add(-1)
	u.bytesIn.Add(uint64(in))
	u.bytesOut.Add(uint64(out))
}

func candidates(dst, ups []*Upstream, tried func(int) bool) []*Upstream {
	for _, u := range ups {
		if !tried(u.idx) && u.Healthy() && !u.full() {
			dst = append(dst, u)
		}
	}
	return dst
}

func (p *pool) status() []BackendStatus {
	g := p.gen.Load()
	out := make([]BackendStatus, len(g.upstreams))
	for i, u := range g.upstreams {
		out[i] = BackendStatus{
			Name: u.Name, Addr: u.Addr, Weight: u.Weight, MaxConns: u.MaxConns,
			Healthy:  u.Healthy(),
			Active:   u.Active(),
			Total:    u.total.Load(),
			Failures: u.failures.Load(),
			BytesIn:  u.bytesIn.Load(),
			BytesOut: u.bytesOut.Load(),
		}
	}
	return out
}
