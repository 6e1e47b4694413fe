package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tlsterm "github.com/krbfarm/krbfarm/tls"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/config"
)

// ErrServerClosed is returned by Serve and ListenAndServe called after Close.
var ErrServerClosed = errors.New("lb: server closed")

// Server is the load balancer: it accepts client connections and proxies
// each to one backend. Create it with New.
type Server struct {
	cfg     Config // defaults resolved
	tlsConf *tls.Config
	certs   *tlsterm.Certs // the certificates Reload refreshes; nil when New was given tlsConf
	log     *zap.Logger
	pool    *pool
	fd      *fdGuard // running out of file descriptors
	eng     *engine  // the event-loop engine; nil: a goroutine per connection
	dialer  net.Dialer
	// proxyVersion is the PROXY header sent to backends: 0 (none), 1 or 2.
	proxyVersion byte
	active       atomic.Int64  // client connections open
	accepted     atomic.Uint64 // client connections accepted
	// slots holds one token per connection open when max_conns is set.
	slots chan struct{}

	ctx    context.Context // the server's life; Close cancels it
	cancel context.CancelFunc
	health sync.Once

	reloadMu  sync.Mutex // one Reload at a time; guards certFiles
	certFiles []KeyPair  // what certs was loaded from
	// curMode is the mode new connections are served in (see mode).
	curMode atomic.Pointer[string]
	// l7 is the shared backend pool of l7-pooling mode, ready in every
	// TLS-terminating mode so Reload can switch to it.
	l7 *l7Pool
	// backendTLS is the client side of reencrypt mode; nil otherwise.
	backendTLS atomic.Pointer[tls.Config]

	stopAccept chan struct{} // closed when Shutdown begins

	mu        sync.Mutex
	draining  bool // Shutdown has begun: no new listener or connection
	closed    bool
	addr      net.Addr
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	handlers  sync.WaitGroup
	accepting sync.WaitGroup // Serve's accept loops, which Close waits for
}

// acceptWaitLimit bounds Close's wait for the accept loops: they end as
// soon as their listener is closed, so only a bug could hold them.
const acceptWaitLimit = 5 * time.Second

// New checks cfg and returns a Server. In terminate mode it uses tlsConf if
// not nil, and otherwise loads cfg.CertFile and cfg.KeyFile; in passthrough
// mode tlsConf is ignored. log may be nil (no logging).
func New(cfg Config, tlsConf *tls.Config, log *zap.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("lb config: %w", err)
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	var certs *tlsterm.Certs
	if cfg.Mode == ModePassthrough {
		tlsConf = nil
	} else if tlsConf == nil {
		var err error
		if tlsConf, certs, err = loadTLS(cfg); err != nil {
			return nil, err
		}
	}
	s := &Server{
		cfg:          cfg,
		tlsConf:      tlsConf,
		certs:        certs,
		certFiles:    certFiles(cfg),
		stopAccept:   make(chan struct{}),
		log:          log,
		dialer:       net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: -1}, // see Listen
		proxyVersion: proxyVersion(cfg.ProxyProtocol),
		listeners:    make(map[net.Listener]struct{}),
		conns:        make(map[net.Conn]struct{}),
	}
	if cfg.Mode == ModeReencrypt {
		bt, err := backendTLS(cfg)
		if err != nil {
			return nil, fmt.Errorf("lb config: %w", err)
		}
		s.backendTLS.Store(bt)
	}
	if cfg.MaxConns > 0 {
		s.slots = make(chan struct{}, cfg.MaxConns)
	}
	mode := cfg.Mode
	s.curMode.Store(&mode)
	s.l7 = s.newL7Pool()
	s.fd = newFDGuard(log)
	s.pool = newPool(newGeneration(cfg, nil), s.dialBackend, s.fd, log)
	s.pool.proxyHeader = cfg.ProxyProtocol
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if cfg.useEpoll() {
		s.eng = newEngine(s)
	}
	return s, nil
}

// Listen listens on addr (TCP) as the balancer's front door should, for
// Serve: ListenAndServe uses it, and so should callers that listen
// themselves.
//
// Plain TCP, as HAProxy and nginx listen: Go's default MPTCP listener
// costs each new connection about 1 µs more of kernel time (bench: 3%
// fewer connections per second) for clients that almost never speak
// MPTCP. No TCP keepalive probes on accepted connections (nor, see New,
// on backend ones), as HAProxy, nginx and the epoll engine (raw accept4)
// have none by default: the idle timeout ends a silent connection, and
// Go's default (probes after 15 s) costs four setsockopt calls per
// connection.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	lc.SetMultipathTCP(false)
	return lc.Listen(ctx, "tcp", addr)
}

// ListenAndServe listens on cfg.Listen and serves there, and on cfg.Admin
// (if set) serves AdminHandler; see Serve.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := Listen(ctx, s.cfg.Listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = &addrInUseError{addr: s.cfg.Listen, err: err}
		}
		return &config.FieldError{Path: "listen", Err: err}
	}
	if s.cfg.Admin != "" {
		aln, err := Listen(ctx, s.cfg.Admin)
		if err != nil {
			ln.Close()
			return fmt.Errorf("admin listen %s: %w", s.cfg.Admin, err)
		}
		go func() {
			if err := s.ServeAdmin(ctx, aln); err != nil {
				s.log.Error("admin server stopped", zap.Error(err))
			}
		}()
	}
	return s.Serve(ctx, ln)
}

// addrInUseError says what to do about a taken front-door port.
type addrInUseError struct {
	addr string
	err  error
}

func (e *addrInUseError) Error() string {
	return fmt.Sprintf("%s: address already in use: pick another address, or port 0 (e.g. 127.0.0.1:0) for a free one", e.addr)
}

func (e *addrInUseError) Unwrap() error { return e.err }

// Serve accepts connections on ln and proxies them until ctx is done or
// Close is called, and then returns nil; when ctx is done it closes the
// whole server. The first call starts the health checks. Serve takes
// ownership of ln and may be called for several listeners.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	accept := func() error {
		conn, err := ln.Accept()
		if err == nil {
			s.startConn(conn)
		}
		return err
	}
	if s.eng != nil {
		if err := s.eng.start(); err != nil {
			ln.Close()
			return err
		}
		if wrapped, a := s.eng.acceptor(ln); a != nil {
			ln, accept = wrapped, a
		}
	}
	if !s.addListener(ln) {
		ln.Close()
		return ErrServerClosed
	}
	defer s.accepting.Done() // last: removeListener takes mu
	defer s.removeListener(ln)
	s.log.Info("listening", zap.Stringer("addr", ln.Addr()), zap.String("mode", s.cfg.Mode), zap.String("balance", s.cfg.Balance))
	stop := context.AfterFunc(ctx, func() { s.Close() })
	defer stop()
	s.health.Do(func() {
		s.pool.start(s.ctx)
		if s.certs != nil {
			go s.watchCerts(s.ctx, s.cfg.CertReloadInterval)
		}
	})
	return s.acceptLoop(ln, accept)
}

// acceptLoop calls accept, which accepts one connection on ln and starts
// serving it, until the server stops. While the process is out of file
// descriptors it waits, as the fdGuard says, before accepting again.
func (s *Server) acceptLoop(ln net.Listener, accept func() error) error {
	var backoff time.Duration
	for {
		if d := s.fd.pause(); d > 0 && !s.pause(d) {
			return nil
		}
		if !s.takeSlot() {
			return nil
		}
		err := accept()
		if err == nil {
			backoff = 0
			continue
		}
		s.freeSlot()
		if s.stopping() {
			return nil
		}
		if isFDExhausted(err) {
			s.fd.exhausted(fdOpAccept, err)
			continue
		}
		if !isTemporary(err) {
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		s.log.Warn("accept failed; retrying", zap.Duration("backoff", backoff), zap.Error(err))
		if !s.pause(backoff) {
			return nil
		}
	}
}

// isTemporary is true for accept errors worth retrying: EMFILE, ENFILE,
// ECONNABORTED and the like.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// pause waits d, or less if the server closes; it reports whether the
// server is still open.
func (s *Server) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func (s *Server) startConn(conn net.Conn) {
	if !s.track(conn, &s.handlers) {
		conn.Close()
		s.freeSlot()
		return
	}
	s.accepted.Add(1)
	s.active.Add(1)
	go func() {
		defer s.handlers.Done()
		defer s.active.Add(-1)
		defer s.freeSlot()
		defer s.untrack(conn)
		s.handle(s.ctx, conn)
	}()
}

// takeSlot waits for room under max_conns before the next Accept, so
// clients beyond the limit wait in the kernel's backlog, as with HAProxy's
// maxconn. It reports false once the server stops accepting.
func (s *Server) takeSlot() bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	case <-s.ctx.Done():
		return false
	case <-s.stopAccept:
		return false
	}
}

func (s *Server) freeSlot() {
	if s.slots != nil {
		<-s.slots
	}
}

// Close stops accepting, closes every proxied connection, stops the health
// checks and waits for all of them to finish. It is safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.waitAccepting()
	s.l7.transport.CloseIdleConnections()
	if s.eng != nil {
		s.eng.stop()
	}
	s.handlers.Wait()
	s.pool.wait()
	return nil
}

// waitAccepting waits, bounded, for the accept loops to end, so no
// connection an accept loop took past Close's start (being admitted, or
// dialling, on its goroutine) is left to log after Close returns.
func (s *Server) waitAccepting() {
	done := make(chan struct{})
	go func() {
		s.accepting.Wait()
		close(done)
	}()
	t := time.NewTimer(acceptWaitLimit)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("lb close: accept loops still running", zap.Duration("waited", acceptWaitLimit))
	}
}

// Addr is the address of the first listener Serve was given; nil before.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Status reports each backend, in configuration order.
func (s *Server) Status() []BackendStatus { return s.pool.status() }

func (s *Server) addListener(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		return false
	}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.listeners[ln] = struct{}{}
	s.accepting.Add(1)
	return true
}

func (s *Server) removeListener(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
	ln.Close()
}

// track registers a connection so Close can end it, and adds one to wg if
// not nil, under the same lock so Close never waits on a stale count. It
// returns false once the server is closed.
func (s *Server) track(c net.Conn, wg *sync.WaitGroup) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Once draining, no new client connection joins the handlers that
	// Shutdown waits for; backend connections (wg nil) still may.
	if s.closed || (s.draining && wg != nil) {
		return false
	}
	s.conns[c] = struct{}{}
	if wg != nil {
		wg.Add(1)
	}
	return true
}

// admit counts a new client connection of the event-loop engine in the
// handlers Shutdown waits for; false once the server stops taking them.
func (s *Server) admit() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.draining {
		return false
	}
	s.handlers.Add(1)
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	c.Close()
}
