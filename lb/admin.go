package lb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/config"
)

// Status is the balancer's state as GET /status shows it.
type Status struct {
	Addr    string `json:"addr"` // the front door; "" before Serve
	Mode    string `json:"mode"`
	Balance string `json:"balance"`
	Active  int64  `json:"active"` // client connections open now
	Total   uint64 `json:"total"`  // client connections accepted since start
	// FDExhausted counts accepts, backend sockets and health checks that
	// failed because the balancer had no file descriptor left (EMFILE,
	// ENFILE): its own limit, never counted against a backend.
	FDExhausted uint64          `json:"fd_exhausted"`
	Backends    []BackendStatus `json:"backends"`
}

// FullStatus reports the balancer and each backend.
func (s *Server) FullStatus() Status {
	st := Status{Mode: s.mode(), Balance: s.pool.gen.Load().balance,
		Active: s.active.Load(), Total: s.accepted.Load(), Backends: s.Status()}
	for op := range fdOps {
		st.FDExhausted += s.fd.total(op)
	}
	if a := s.Addr(); a != nil {
		st.Addr = a.String()
	}
	return st
}

// AdminHandler serves GET /metrics (Prometheus text format, from a
// registry of this Server's own, never the global one) and GET /status
// (JSON, see Status).
func (s *Server) AdminHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{s},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.FullStatus())
	})
	return mux
}

// ServeAdmin serves AdminHandler on ln until ctx is done or the Server
// closes; it then returns nil.
func (s *Server) ServeAdmin(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.AdminHandler(), ReadHeaderTimeout: 5 * time.Second}
	stop := context.AfterFunc(ctx, func() { hs.Close() })
	defer stop()
	stopOnClose := context.AfterFunc(s.ctx, func() { hs.Close() })
	defer stopOnClose()
	s.log.Info("admin listening", zap.Stringer("addr", ln.Addr()))
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin on %s: %w", ln.Addr(), err)
	}
	return nil
}

// checkAdmin refuses an admin address reachable from other hosts unless
// public is set: /metrics and /status show the farm's layout.
func checkAdmin(addr string, public bool) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return &config.FieldError{Path: "admin", Err: err}
	}
	if public || host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return config.Errorf("admin", "%q is not a loopback address: use 127.0.0.1:PORT, or set admin_public: true to expose metrics and status", addr)
}

// collector exports the pool's counters at scrape time: the data path
// keeps its plain atomics and pays nothing for metrics.
type collector struct{ s *Server }

var (
	descUp       = prometheus.NewDesc("krbfarm_lb_backend_up", "1 if the backend takes new connections (healthy), else 0.", []string{"backend", "addr"}, nil)
	descBActive  = prometheus.NewDesc("krbfarm_lb_backend_active_connections", "Connections now proxied to the backend.", []string{"backend"}, nil)
	descBTotal   = prometheus.NewDesc("krbfarm_lb_backend_connections_total", "Connections proxied to the backend since start.", []string{"backend"}, nil)
	descBFail    = prometheus.NewDesc("krbfarm_lb_backend_failures_total", "Failed connects and health checks of the backend.", []string{"backend"}, nil)
	descBBytes   = prometheus.NewDesc("krbfarm_lb_backend_bytes_total", "Bytes proxied, counted when each connection ends; direction in is client to backend.", []string{"backend", "direction"}, nil)
	descActive   = prometheus.NewDesc("krbfarm_lb_connections_active", "Client connections open now.", nil, nil)
	descAccepted = prometheus.NewDesc("krbfarm_lb_connections_total", "Client connections accepted since start.", nil, nil)
	descFD       = prometheus.NewDesc("krbfarm_lb_fd_exhausted_total", "Operations that failed because the balancer had no file descriptor left (EMFILE, ENFILE); op is accept, dial, health or pipe. Never counted against a backend.", []string{"op"}, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descUp, descBActive, descBTotal, descBFail, descBBytes, descActive, descAccepted, descFD} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(c.s.active.Load()))
	ch <- prometheus.MustNewConstMetric(descAccepted, prometheus.CounterValue, float64(c.s.accepted.Load()))
	for op := range fdOps {
		ch <- prometheus.MustNewConstMetric(descFD, prometheus.CounterValue, float64(c.s.fd.total(op)), fdOpNames[op])
	}
	for _, b := range c.s.Status() {
		up := 0.0
		if b.Healthy {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, b.Name, b.Addr)
		ch <- prometheus.MustNewConstMetric(descBActive, prometheus.GaugeValue, float64(b.Active), b.Name)
		ch <- prometheus.MustNewConstMetric(descBTotal, prometheus.CounterValue, float64(b.Total), b.Name)
		ch <- prometheus.MustNewConstMetric(descBFail, prometheus.CounterValue, float64(b.Failures), b.Name)
		ch <- prometheus.MustNewConstMetric(descBBytes, prometheus.CounterValue, float64(b.BytesIn), b.Name, "in")
		ch <- prometheus.MustNewConstMetric(descBBytes, prometheus.CounterValue, float64(b.BytesOut), b.Name, "out")
	}
}
