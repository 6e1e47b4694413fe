package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab"
)

//go:embed assets
var assets embed.FS

// TokenHeader carries the page's per-run token on every POST.
const TokenHeader = "X-Krbfarm-Token"

// Timeouts of the HTTP server. Actions that run a scenario extend their
// own write deadline to actionTimeout; the event stream lifts it and ends
// itself after streamLifetime (the browser reconnects).
const (
	readTimeout     = 10 * time.Second
	writeTimeout    = 15 * time.Second
	idleTimeout     = 60 * time.Second
	actionTimeout   = 2 * time.Minute
	streamLifetime  = 10 * time.Minute
	heartbeatPeriod = 15 * time.Second
	statePeriod     = time.Second
)

// Config says how the dashboard runs. The zero value is the default.
type Config struct {
	// Requests is how many requests a scenario phase sends; 0 = 6.
	Requests int
}

// Server is the dashboard of one farm.
type Server struct {
	cfg   Config
	admin *lab.Admin
	log   *zap.Logger
	token string
	page  *template.Template
	hub   *hub
	// busy lets one farm-changing action run at a time.
	busy sync.Mutex
}

// New returns the dashboard of the farm admin administers. log nil = none.
func New(cfg Config, admin *lab.Admin, log *zap.Logger) (*Server, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.Requests == 0 {
		cfg.Requests = 6
	}
	tok := make([]byte, 16)
	if _, err := rand.Read(tok); err != nil {
		return nil, fmt.Errorf("dashboard token: %w", err)
	}
	page, err := template.New("index.html").Funcs(topoFuncs).ParseFS(assets, "assets/index.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard page: %w", err)
	}
	s := &Server{cfg: cfg, admin: admin, log: log, token: hex.EncodeToString(tok), page: page}
	s.hub = newHub(admin.Info.Backends, admin.Dir)
	return s, nil
}

// Token is the per-run token POSTs must carry in TokenHeader.
func (s *Server) Token() string { return s.token }

// Handler serves the page, its assets, the JSON API and the event stream.
func (s *Server) Handler() http.Handler {
	static, _ := fs.Sub(assets, "assets")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.handlePage)
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /api/state", s.handleState)
	mux.HandleFunc("GET /api/scenarios", s.handleScenarios)
	mux.HandleFunc("GET /api/stream", s.handleStream)
	mux.Handle("POST /api/sample", s.guard(s.handleSample))
	mux.Handle("POST /api/scenario", s.guard(s.handleScenario))
	return securityHeaders(mux)
}

// guard refuses a POST without the page's token (403): another site open
// in the same browser cannot send the custom header, so it cannot make
// the farm change.
func (s *Server) guard(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get(TokenHeader)
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			http.Error(w, "missing or wrong "+TokenHeader+": reload the dashboard", http.StatusForbidden)
			return
		}
		h(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}

// Serve serves the dashboard on ln until ctx is done; it then returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: readTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, BaseContext: func(net.Listener) context.Context { return ctx }}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	go s.Watch(ctx)
	s.log.Info("dashboard listening", zap.Stringer("addr", ln.Addr()))
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard on %s: %w", ln.Addr(), err)
	}
	return nil
}

// NotLoopbackError refuses a dashboard address other hosts could reach.
type NotLoopbackError struct{ Addr string }

func (e *NotLoopbackError) Error() string {
	return fmt.Sprintf("dashboard address %q is not a loopback address: the dashboard changes the farm, so it listens on 127.0.0.1 only unless --dashboard-public is given", e.Addr)
}

// Listen binds addr ("" = 127.0.0.1:0, a free port), refusing a
// non-loopback address unless public is set.
func Listen(addr string, public bool) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard address: %w", err)
	}
	ip := net.ParseIP(host)
	if !public && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, &NotLoopbackError{Addr: addr}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	return ln, nil
}

// URL is the address a browser opens for ln.
func URL(ln net.Listener) string { return "http://" + ln.Addr().String() + "/" }

// Watch follows the hosts' event files until ctx ends. Serve runs it; a
// caller of Handler alone runs it itself.
func (s *Server) Watch(ctx context.Context) { s.hub.run(ctx) }

// topoFuncs place host i in the topology SVG: a 60-pixel box every 80.
var topoFuncs = template.FuncMap{
	"topoHeight": func(n int) int { return max(180, 20+80*n) },
	"topoTop":    func(i int) int { return 10 + 80*i },
	"topoY":      func(i int) int { return 36 + 80*i },
	"topoSub":    func(i int) int { return 56 + 80*i },
}
