package backend

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/ratelog"
)

// Bounds of rate-limited log lines (connections over the limit, refused
// PROXY headers): at most one line per key (a sender address) per
// rateLogEvery, for at most rateLogKeys keys at once.
const (
	rateLogEvery = 10 * time.Second
	rateLogKeys  = 4096
)

// Option adjusts a Site beyond what Config says.
type Option func(*options)

type options struct {
	clock func() time.Time
}

// WithClock sets the real-time clock the Site reads (nil = time.Now);
// Config.ClockOffset is added on top. Scenarios and tests use it to skew a
// host without touching the system clock.
func WithClock(clock func() time.Time) Option {
	return func(o *options) { o.clock = clock }
}

// Site is one IIS-like host: an http.Handler that demands Negotiate, plus
// the server that serves it.
type Site struct {
	cfg      Config
	log      *zap.Logger
	verifier *Verifier
	events   *EventLog // nil: no event log

	ntlmUsers atomic.Pointer[ntlmUsers] // NTLM accounts and their NT hashes; reloadable
	ntlmNames ntlmNames                 // names sent in NTLM challenges
	batch     atomic.Bool               // the pool identity holds SeBatchLogonRight
	// maxField and maxRequest are the http.sys header limits in force.
	maxField, maxRequest atomic.Int64
	// singleRequest is authPersistSingleRequest in force (persist.go).
	singleRequest atomic.Bool

	colour string    // hostColour of the name, for the pages
	pages  pageCache // rendered 200 pages (pagecache.go)

	stats   counters
	rateLog *ratelog.Limiter // rate-limited lines: connections over the limit, refused PROXY headers

	mu      sync.Mutex
	servers map[*http.Server]struct{}
	closed  bool
}

// New validates cfg, loads the keytab and returns a Site. A nil log
// means no logging.
func New(cfg Config, log *zap.Logger, opts ...Option) (*Site, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("backend config: %w", err)
	}
	cfg = cfg.withDefaults()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = zap.NewNop()
	}
	kt, err := LoadKeytab(cfg.Keytab)
	if err != nil {
		return nil, err
	}
	s := &Site{
		cfg:       cfg,
		log:       log.With(zap.String("backend", cfg.Name)),
		verifier:  NewVerifier(cfg, kt, o.clock),
		ntlmNames: newNTLMNames(cfg.Name, cfg.Realm),
		colour:    hostColour(cfg.Name),
		rateLog:   ratelog.New(rateLogEvery, rateLogKeys, time.Now),
		servers:   make(map[*http.Server]struct{}),
	}
	if err := s.openFiles(); err != nil {
		return nil, err
	}
	s.warnMissingSPN(kt)
	s.warnNoChannel()
	s.batch.Store(*cfg.BatchLogonRight)
	s.SetHeaderLimits(cfg.MaxFieldLength, cfg.MaxRequestBytes)
	s.singleRequest.Store(cfg.AuthPersistSingleRequest)
	s.poolStart()
	return s, nil
}

// openFiles loads the NTLM users and opens the event log, as configured.
func (s *Site) openFiles() error {
	if s.cfg.NTLMUsers != "" {
		u, err := loadNTLMUsers(s.cfg.NTLMUsers)
		if err != nil {
			return err
		}
		s.ntlmUsers.Store(&u)
	}
	if s.cfg.EventLog != "" {
		l, err := OpenEventLog(s.cfg.EventLog)
		if err != nil {
			return err
		}
		s.events = l
	}
	return nil
}

// warnMissingSPN logs when the keytab has no key for the configured SPN:
// the site still starts (that is a farm scenario), but every ticket fails.
func (s *Site) warnMissingSPN(kt *keytab.Keytab) {
	spn := s.verifier.spn
	if spn != nil && !hasPrincipal(kt, *spn, s.cfg.Realm) {
		s.log.Warn("keytab holds no key for the SPN",
			zap.String("keytab", s.cfg.Keytab), zap.String("spn", s.cfg.SPN))
	}
}

// SetBatchLogonRight grants (true) or revokes (false) the pool identity's
// "Log on as a batch job" right and restarts the pool, as gpupdate /force
// then an app pool recycle would: without it, events 4625 and 5021 and 503.
func (s *Site) SetBatchLogonRight(ok bool) {
	if s.batch.Swap(ok) != ok {
		s.poolStart()
	}
}

// Config returns the Site's config with defaults resolved.
func (s *Site) Config() Config { return s.cfg }

// Verifier returns the Verifier the Site uses.
func (s *Site) Verifier() *Verifier { return s.verifier }

// ReloadKeytab re-reads the keytab file; on error the old keys stay.
func (s *Site) ReloadKeytab() error {
	kt, err := LoadKeytab(s.cfg.Keytab)
	if err != nil {
		return err
	}
	s.verifier.SetKeytab(kt)
	s.warnMissingSPN(kt)
	s.log.Info("keytab reloaded", zap.String("keytab", s.cfg.Keytab), zap.Int("entries", len(kt.Entries)))
	return nil
}

// ListenAndServe listens on cfg.Listen and serves until ctx ends or Close.
func (s *Site) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("backend %s: listen %s: %w", s.cfg.Name, s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves HTTP (HTTPS when TLSCert and TLSKey are set) on ln until ctx
// ends or Close is called, then returns nil. It closes ln.
func (s *Site) Serve(ctx context.Context, ln net.Listener) error {
	conf, err := s.tlsConfig()
	if err != nil {
		ln.Close()
		return fmt.Errorf("backend %s: %w", s.cfg.Name, err)
	}
	srv := s.newServer(ctx, conf)
	if !s.track(srv) {
		ln.Close()
		return nil
	}
	ln = s.limit(ln)
	ln = s.cfg.ProxyProtocol.wrap(ln, s)
	defer s.untrack(srv)
	stop := context.AfterFunc(ctx, func() { srv.Close() })
	defer stop()
	s.log.Info("serving", zap.String("addr", ln.Addr().String()), zap.Bool("tls", s.cfg.TLSCert != ""),
		zap.Strings("proxy_trusted", s.cfg.ProxyProtocol.Trusted), zap.Int("maxConnections", s.cfg.MaxConnections),
		zap.Duration("header_timeout", s.cfg.HeaderTimeout), zap.Duration("body_timeout", s.cfg.BodyTimeout),
		zap.Duration("idle_timeout", s.cfg.IdleTimeout), zap.String("tokenChecking", string(s.cfg.ExtendedProtection.TokenChecking)))
	if conf != nil {
		err = srv.ServeTLS(ln, "", "")
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("backend %s: serve: %w", s.cfg.Name, err)
}

// limit bounds ln to MaxConnections connections at once; see rejecter
// for what happens to the others.
func (s *Site) limit(ln net.Listener) net.Listener {
	r := &rejecter{site: s, tls: s.cfg.TLSCert != "", drainer: make(chan struct{}, rejectDrainers)}
	return newLimitListener(ln, s.cfg.MaxConnections, r.reject)
}

// newServer returns the http.Server for one Serve call; conf is its TLS
// config (nil: plain HTTP), whose certificate's tls-server-end-point goes
// into every request's context for Extended Protection.
func (s *Site) newServer(ctx context.Context, conf *serverTLS) *http.Server {
	errLog, _ := zap.NewStdLogAt(s.log.Named("http"), zap.DebugLevel)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.cfg.HeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    serverHeaderLimit(s.cfg),
		ConnContext:       withConnState,
		ErrorLog:          errLog,
	}
	if conf != nil {
		srv.TLSConfig = conf.config
		ctx = withEndPoint(ctx, conf.endPoint)
	}
	srv.BaseContext = func(net.Listener) context.Context { return ctx }
	return srv
}

// serverHeaderLimit is net/http's own header limit: well above the
// http.sys limits (and above the largest MaxFieldLength, so that raising it
// live works), so that requests over them get IIS's 400 from the
// handler rather than net/http's 431; far above them, net/http's 431 bounds
// memory.
func serverHeaderLimit(c Config) int {
	return max(c.MaxFieldLength, c.MaxRequestBytes, MaxHTTPSysFieldLength) + 64<<10
}

// track registers srv, or reports false if the Site is closed.
func (s *Site) track(srv *http.Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.servers[srv] = struct{}{}
	return true
}

func (s *Site) untrack(srv *http.Server) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.servers, srv)
}

// Close stops every Serve loop and closes their connections. It is safe
// to call more than once.
func (s *Site) Close() error {
	s.mu.Lock()
	s.closed = true
	servers := make([]*http.Server, 0, len(s.servers))
	for srv := range s.servers {
		servers = append(servers, srv)
	}
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		errs = append(errs, srv.Close())
	}
	errs = append(errs, s.events.Close())
	return errors.Join(errs...)
}
