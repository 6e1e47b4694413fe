package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"gopkg.in/yaml.v3"

	"github.com/krbfarm/krbfarm/lb"
)

func newLBCmd() *cobra.Command {
	var (
		file     string
		cfg      lb.Config
		backends []string
	)
	cmd := &cobra.Command{
		Use:   "lb",
		Short: "Run the L4 load balancer (TLS terminate, passthrough or reencrypt) on its own",
		Example: `  krbfarm lb --listen 127.0.0.1:8443 --backend 127.0.0.1:8081 --backend 127.0.0.1:8082 --cert sso.pem --key sso-key.pem
  krbfarm lb --mode passthrough --listen 127.0.0.1:8443 --backend server1=127.0.0.1:8081,server2=127.0.0.1:8082
  krbfarm lb --config lb.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			load := func() (lb.Config, error) { return mergeLBConfig(cmd, file, cfg, backends) }
			c, err := load()
			if err != nil {
				return err
			}
			log := newLogger(true, zap.InfoLevel)
			defer log.Sync()
			srv, err := lb.New(c, nil, log)
			if err != nil {
				return err
			}
			defer srv.Close()
			return runLB(cmd.Context(), srv, srv.DrainTimeout(), load, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "YAML lb config file (flags override it)")
	f.StringVar(&cfg.Listen, "listen", "", "front-door address (default 127.0.0.1:0)")
	f.StringSliceVar(&backends, "backend", nil, "backend ADDR or NAME=ADDR (repeat or comma-separate)")
	f.StringVar(&cfg.Mode, "mode", "", "terminate (default), passthrough or reencrypt")
	f.StringVar(&cfg.BackendCA, "backend-ca", "", "reencrypt: CA PEM that backends' certificates must chain to (default system roots)")
	f.StringVar(&cfg.Balance, "balance", "", "roundrobin (default), leastconn or source (client-IP affinity)")
	f.StringVar(&cfg.ProxyProtocol, "proxy-protocol", "", "send a PROXY protocol header to backends: v1 or v2")
	f.StringVar(&cfg.Engine, "engine", "", "passthrough relay: auto (default: epoll on Linux), epoll or goroutine")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "client connections at once; more wait in the backlog (default no limit)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a connection after this long with no byte either way (default 10m)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 0, "on SIGTERM/SIGINT, how long connections in flight may finish (default 30s)")
	f.StringVar(&cfg.Admin, "admin", "", "serve /metrics and /status here, e.g. 127.0.0.1:9100 (loopback only unless admin_public: true in --config)")
	f.StringVar(&cfg.CertFile, "cert", "", "certificate PEM for terminate mode")
	f.StringVar(&cfg.KeyFile, "key", "", "key PEM for terminate mode")
	return cmd
}

func mergeLBConfig(cmd *cobra.Command, file string, flags lb.Config, backends []string) (lb.Config, error) {
	var c lb.Config
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return c, fmt.Errorf("config: %w", err)
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			return c, fmt.Errorf("config %s: %w", file, err)
		}
	}
	set := cmd.Flags().Changed
	for name, p := range map[string][2]*string{
		"listen": {&c.Listen, &flags.Listen}, "mode": {&c.Mode, &flags.Mode},
		"cert": {&c.CertFile, &flags.CertFile}, "key": {&c.KeyFile, &flags.KeyFile},
		"balance": {&c.Balance, &flags.Balance}, "proxy-protocol": {&c.ProxyProtocol, &flags.ProxyProtocol},
		"admin": {&c.Admin, &flags.Admin}, "backend-ca": {&c.BackendCA, &flags.BackendCA},
		"engine": {&c.Engine, &flags.Engine},
	} {
		if set(name) {
			*p[0] = *p[1]
		}
	}
	if set("max-conns") {
		c.MaxConns = flags.MaxConns
	}
	if set("idle-timeout") {
		c.IdleTimeout = flags.IdleTimeout
	}
	if set("drain-timeout") {
		c.DrainTimeout = flags.DrainTimeout
	}
	if set("backend") {
		c.Backends = nil
		for _, b := range backends {
			c.Backends = append(c.Backends, parseBackend(b))
		}
	}
	return c, nil
}

// runLB serves until ctx ends (SIGTERM or SIGINT), then drains for up to
// drain; on SIGHUP it re-reads the configuration (file and flags) and
// reloads it, keeping the running one if the new one is wrong.
func runLB(ctx context.Context, srv *lb.Server, drain time.Duration, load func() (lb.Config, error), log *zap.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	served := make(chan error, 1)
	go func() { served <- srv.ListenAndServe(context.WithoutCancel(ctx)) }()
	for {
		select {
		case err := <-served:
			return err
		case <-hup:
			c, err := load()
			if err == nil {
				err = srv.Reload(c)
			}
			if err != nil {
				log.Error("reload failed; the running configuration stays", zap.Error(err))
			}
		case <-ctx.Done():
			log.Info("draining", zap.Duration("drain_timeout", drain))
			sctx, cancel := context.WithTimeout(context.Background(), drain)
			err := srv.Shutdown(sctx)
			cancel()
			if serr := <-served; err == nil {
				err = serr
			}
			return err
		}
	}
}

// parseBackend reads NAME=ADDR or ADDR.
func parseBackend(s string) lb.Backend {
	for i := 0; i < len(s); i++ {
		if s[i] == '=' {
			return lb.Backend{Name: s[:i], Addr: s[i+1:]}
		}
	}
	return lb.Backend{Addr: s}
}
