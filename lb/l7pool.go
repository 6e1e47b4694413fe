package lb

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// ModeL7Pool's demonstration: an HTTP reverse proxy whose backend
// connections are pooled across clients, as an ADC with an HTTP profile
// and connection reuse (F5 OneConnect, NetScaler connection multiplexing)
// does. A backend connection that one user authenticated (NTLM, or
// Kerberos with authPersistNonNTLM) then carries another user's requests,
// and the host answers them as the first user. Never use it in production:
// it exists so the lab can show why Windows-authenticated farms use L4.

// l7PoolKey is the one Transport pool key for every backend: the whole
// farm is one pool, and which backend a new connection goes to is the
// balancer's choice at dial time.
const l7PoolKey = "farm.l7-pool.invalid"

// l7MaxIdle is how many idle backend connections the pool keeps: small, so
// that reuse across clients is certain.
const l7MaxIdle = 2

// l7Pool is the shared transport and the reverse proxy over it.
type l7Pool struct {
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

// clientAddrKey carries the client's address to the dial, for the
// balancer's picker (source hash) and the logs.
type clientAddrKey struct{}

func (s *Server) newL7Pool() *l7Pool {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           s.dialL7,
		MaxIdleConns:          l7MaxIdle,
		MaxIdleConnsPerHost:   l7MaxIdle,
		IdleConnTimeout:       s.cfg.IdleTimeout,
		ResponseHeaderTimeout: s.cfg.IdleTimeout,
		DisableCompression:    true,
	}
	p := &l7Pool{transport: tr}
	p.proxy = &httputil.ReverseProxy{
		Rewrite:      l7Rewrite,
		Transport:    tr,
		ErrorHandler: s.l7Error,
		ErrorLog:     log.New(zap.NewStdLog(s.log).Writer(), "", 0),
	}
	return p
}

// l7Rewrite sends the request to the pool, keeping the Host the client
// asked for (the hosts check it against the SPN's name) and saying who the
// client was in X-Forwarded-*. Authorization is passed on untouched.
func l7Rewrite(pr *httputil.ProxyRequest) {
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = l7PoolKey
	pr.Out.Host = pr.In.Host
	pr.SetXForwarded()
	pr.Out.Header.Set("X-Forwarded-Proto", "https")
}

func (s *Server) l7Error(w http.ResponseWriter, r *http.Request, err error) {
	if !errors.Is(err, context.Canceled) {
		s.log.Warn("l7 proxy error", zap.String("remote", r.RemoteAddr), zap.Error(err))
	}
	w.WriteHeader(http.StatusBadGateway)
}

// dialL7 opens a new pooled backend connection: the balancer picks a
// healthy backend as for any connection; the connection then serves
// whichever client's request the Transport hands it next.
func (s *Server) dialL7(ctx context.Context, _, _ string) (net.Conn, error) {
	client, _ := ctx.Value(clientAddrKey{}).(net.Addr)
	up, u, err := s.pool.connect(ctx, client, nil)
	if err != nil {
		return nil, err
	}
	if !s.track(up, nil) {
		up.Close()
		s.pool.release(u, 0, 0)
		return nil, ErrServerClosed
	}
	s.log.Debug("l7 pool: new backend connection", zap.String("upstream", u.Name), zap.Stringer("local", up.LocalAddr()))
	return &pooledConn{Conn: up, s: s, u: u}, nil
}

// pooledConn is a backend connection in the pool: closing it gives its
// slot back to the balancer, with the bytes it carried.
type pooledConn struct {
	net.Conn
	s       *Server
	u       *Upstream
	in, out atomic.Int64
	once    sync.Once
}

func (c *pooledConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.in.Add(int64(n))
	return n, err
}

func (c *pooledConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.out.Add(int64(n))
	return n, err
}

func (c *pooledConn) Close() error {
	c.once.Do(func() {
		c.s.untrack(c.Conn) // closes it
		c.s.pool.release(c.u, c.in.Load(), c.out.Load())
	})
	return nil
}

// serveL7 serves HTTP on one client connection (TLS already ended) until
// it closes, each request through the shared pool, and returns how many
// requests it carried.
func (s *Server) serveL7(ctx context.Context, client net.Conn) int64 {
	var requests atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			s.l7.proxy.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: s.cfg.HandshakeTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ErrorLog:          log.New(zap.NewStdLog(s.log).Writer(), "", 0),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, clientAddrKey{}, c.RemoteAddr())
		},
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateClosed || st == http.StateHijacked {
				once.Do(func() { close(done) })
			}
		},
	}
	go hs.Serve(&oneConnListener{conn: client}) // returns at the second Accept; the connection is served on
	select {
	case <-done:
	case <-ctx.Done():
		rawConn(client).Close()
		<-done
	}
	return requests.Load()
}

// oneConnListener hands out one connection, then reports itself closed.
type oneConnListener struct {
	mu   sync.Mutex
	conn net.Conn
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.conn
	if c == nil {
		return nil, net.ErrClosed
	}
	l.conn = nil
	return c, nil
}

func (l *oneConnListener) Close() error { return nil }

func (l *oneConnListener) Addr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4zero}
}

// handleL7 is handle's body in l7-pooling mode: one log line per client
// connection, naming the pool rather than one backend.
func (s *Server) handleL7(ctx context.Context, client net.Conn, remote zap.Field, start time.Time) {
	n := s.serveL7(ctx, client)
	s.log.Info("connection closed", remote, zap.String("upstream", "l7-pool"),
		zap.Int64("requests", n), zap.Duration("duration", time.Since(start)),
		zap.String("close", s.reason("eof")))
}

// mode is the mode new connections are served in: Config.Mode, or what
// Reload switched it to (terminate and l7-pooling swap without a restart).
func (s *Server) mode() string { return *s.curMode.Load() }

// switchMode checks that Reload may go from the current mode to m.
func (s *Server) switchMode(m string) error {
	cur := s.mode()
	if m == cur {
		return nil
	}
	swappable := func(m string) bool { return m == ModeTerminate || m == ModeL7Pool }
	if !swappable(cur) || !swappable(m) {
		return errors.New("mode: only terminate and " + ModeL7Pool + " swap without a restart")
	}
	return nil
}

// setMode applies a mode switchMode accepted. Leaving l7-pooling closes
// the pooled backend connections, so no logon on them outlives the mode;
// client connections already open keep theirs until they close.
func (s *Server) setMode(m string) {
	old := s.curMode.Swap(&m)
	if *old == ModeL7Pool && m != ModeL7Pool {
		s.l7.transport.CloseIdleConnections()
	}
	if *old != m {
		s.log.Warn("mode switched", zap.String("from", *old), zap.String("to", m))
	}
}
