package main

import (
	"context"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lb"
)

func newLBCmd() *cobra.Command {
	var opts lbOptions
	cmd := &cobra.Command{
		Use:   "lb",
		Short: "Run the L4 load balancer (TLS terminate, passthrough or reencrypt) on its own",
		Example: `  krbfarm lb --listen 127.0.0.1:8443 --backend 127.0.0.1:8081 --backend 127.0.0.1:8082 --cert sso.pem --key sso-key.pem
  krbfarm lb --mode passthrough --listen 127.0.0.1:8443 --backend server1=127.0.0.1:8081,server2=127.0.0.1:8082
  krbfarm lb --mode reencrypt --backend 127.0.0.1:8081 --backend-ca ca.pem --backend-server-name sso.example.com --cert sso.pem --key sso-key.pem
  krbfarm lb --config lb.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fs := cmd.Flags()
			load := func() (lb.Config, error) { return opts.config(fs) }
			c, err := load()
			if err != nil {
				return err
			}
			setLBProcs(c)
			setLBGC(c)
			log := newLogger(true, zap.InfoLevel)
			defer log.Sync()
			srv, err := lb.New(c, nil, log)
			if err != nil {
				return lbFlags.explain(err, fs, opts.file)
			}
			defer srv.Close()
			return lbFlags.explain(runLB(cmd.Context(), srv, srv.DrainTimeout(), load, log), fs, opts.file)
		},
	}
	opts.register(cmd.Flags())
	return cmd
}

// lbOptions are krbfarm lb's flags: --config, and the lb.Config fields.
type lbOptions struct {
	file     string
	cfg      lb.Config // the flags' values, laid over the file by config
	backends []string
}

// register binds a flag to every lb.Config field a user needs on the
// command line; docs/lb.md says why the others (certificates, acme, a
// backend's weight and max_conns) are file-only.
func (o *lbOptions) register(f *pflag.FlagSet) {
	cfg := &o.cfg
	f.StringVar(&o.file, "config", "", "YAML lb config file (flags given override it)")
	f.StringSliceVar(&o.backends, "backend", nil, "backend ADDR or NAME=ADDR (repeat or comma-separate)")
	f.StringVar(&cfg.Listen, "listen", "", "front-door address; port 0 = a free port (default 127.0.0.1:0)")
	f.StringVar(&cfg.Mode, "mode", "", "terminate (default), passthrough, reencrypt, or l7-pooling (demonstration of the L7 failure only, never for production)")
	f.StringVar(&cfg.Balance, "balance", "", "roundrobin (default), leastconn or source (client-IP affinity)")
	f.StringVar(&cfg.ProxyProtocol, "proxy-protocol", "", "send a PROXY protocol header to backends: v1 or v2 (only to backends that read it)")
	f.StringVar(&cfg.Engine, "engine", "", "passthrough relay: auto (default: epoll on Linux), epoll or goroutine")
	f.IntVar(&cfg.MaxConns, "max-conns", 0, "client connections at once; more wait in the backlog (default no limit)")
	f.DurationVar(&cfg.DialTimeout, "dial-timeout", 0, "backend connect, and reencrypt's TLS handshake (default 3s)")
	f.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", 0, "client TLS handshake (default 10s)")
	f.DurationVar(&cfg.HalfCloseTimeout, "half-close-timeout", 0, "once one direction ended, how long the other may go on (default 30s)")
	f.BoolVar(&cfg.CloseOnFirstEOF, "close-on-first-eof", false, "close both sides at the first EOF from either, as nginx stream does by default, instead of half-closing (default false)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "close a connection after this long with no byte either way (default 10m)")
	f.DurationVar(&cfg.DrainTimeout, "drain-timeout", 0, "on SIGTERM/SIGINT, how long connections in flight may finish (default 30s)")
	f.StringVar(&cfg.Admin, "admin", "", "serve /metrics and /status here, e.g. 127.0.0.1:9100 (loopback only unless --admin-public)")
	f.BoolVar(&cfg.AdminPublic, "admin-public", false, "allow a non-loopback --admin address")
	f.StringVar(&cfg.CertFile, "cert", "", "certificate PEM for terminate and reencrypt modes")
	f.StringVar(&cfg.KeyFile, "key", "", "the certificate's key PEM")
	f.DurationVar(&cfg.CertReloadInterval, "cert-reload-interval", 0, "how often certificate files are checked for change (default 10s)")
	f.StringVar(&cfg.BackendCA, "backend-ca", "", "reencrypt: CA PEM that backends' certificates must chain to (default system roots)")
	f.StringVar(&cfg.BackendServerName, "backend-server-name", "", "reencrypt: the name backends' certificates are checked against, e.g. sso.example.com (default each backend's host)")
	f.StringVar(&cfg.Health.Type, "health-type", "", "active check: tcp (default: a connect) or http (GET --health-path must answer 200)")
	f.StringVar(&cfg.Health.Path, "health-path", "", "HTTP check's path (default /healthz)")
	f.DurationVar(&cfg.Health.Interval, "health-interval", 0, "between checks of one backend (default 1s)")
	f.DurationVar(&cfg.Health.Timeout, "health-timeout", 0, "one check, connect to answer (default 1s)")
	f.IntVar(&cfg.Health.Rise, "health-rise", 0, "passing checks in a row that bring a backend up (default 2)")
	f.IntVar(&cfg.Health.Fall, "health-fall", 0, "failing checks in a row that take it down (default 3)")
	f.IntVar(&cfg.Health.EjectAfter, "eject-after", 0, "failed client connects in a row that take a backend down (default 1)")
}

// lbFlags names the flag of each lb.Config field that has one.
var lbFlags = flagFor{
	"listen": "listen", "backends": "backend", "mode": "mode", "balance": "balance",
	"proxy_protocol": "proxy-protocol", "engine": "engine", "max_conns": "max-conns",
	"dial_timeout": "dial-timeout", "handshake_timeout": "handshake-timeout", "half_close_timeout": "half-close-timeout",
	"close_on_first_eof": "close-on-first-eof", "idle_timeout": "idle-timeout", "drain_timeout": "drain-timeout", "admin": "admin", "admin_public": "admin-public",
	"cert": "cert", "key": "key", "cert_reload_interval": "cert-reload-interval",
	"backend_ca": "backend-ca", "backend_server_name": "backend-server-name",
	"health.type": "health-type", "health.path": "health-path", "health.interval": "health-interval",
	"health.timeout": "health-timeout", "health.rise": "health-rise", "health.fall": "health-fall",
	"health.eject_after": "eject-after",
}

// config reads the file, if any, lays the flags of fs over it (overlay's
// rule) and validates the result, naming flags where flags set the field.
func (o *lbOptions) config(fs *pflag.FlagSet) (lb.Config, error) {
	var c lb.Config
	if o.file != "" {
		var err error
		if c, err = readConfig(o.file, lb.DecodeConfig); err != nil {
			return c, err
		}
	}
	overlayLB(fs, &c, &o.cfg)
	overlay(fs, "backend", &c.Backends, parseBackends(o.backends))
	return c, lbFlags.explain(c.Validate(), fs, o.file)
}

func overlayLB(fs *pflag.FlagSet, c, f *lb.Config) {
	for name, p := range map[string][2]*string{
		"listen": {&c.Listen, &f.Listen}, "mode": {&c.Mode, &f.Mode}, "balance": {&c.Balance, &f.Balance},
		"proxy-protocol": {&c.ProxyProtocol, &f.ProxyProtocol}, "engine": {&c.Engine, &f.Engine},
		"admin": {&c.Admin, &f.Admin}, "cert": {&c.CertFile, &f.CertFile}, "key": {&c.KeyFile, &f.KeyFile},
		"backend-ca": {&c.BackendCA, &f.BackendCA}, "backend-server-name": {&c.BackendServerName, &f.BackendServerName},
		"health-type": {&c.Health.Type, &f.Health.Type}, "health-path": {&c.Health.Path, &f.Health.Path},
	} {
		overlay(fs, name, p[0], *p[1])
	}
	for name, p := range map[string][2]*time.Duration{
		"dial-timeout": {&c.DialTimeout, &f.DialTimeout}, "handshake-timeout": {&c.HandshakeTimeout, &f.HandshakeTimeout},
		"half-close-timeout": {&c.HalfCloseTimeout, &f.HalfCloseTimeout}, "idle-timeout": {&c.IdleTimeout, &f.IdleTimeout},
		"drain-timeout": {&c.DrainTimeout, &f.DrainTimeout}, "cert-reload-interval": {&c.CertReloadInterval, &f.CertReloadInterval},
		"health-interval": {&c.Health.Interval, &f.Health.Interval}, "health-timeout": {&c.Health.Timeout, &f.Health.Timeout},
	} {
		overlay(fs, name, p[0], *p[1])
	}
	for name, p := range map[string][2]*int{
		"max-conns": {&c.MaxConns, &f.MaxConns}, "health-rise": {&c.Health.Rise, &f.Health.Rise},
		"health-fall": {&c.Health.Fall, &f.Health.Fall}, "eject-after": {&c.Health.EjectAfter, &f.Health.EjectAfter},
	} {
		overlay(fs, name, p[0], *p[1])
	}
	overlay(fs, "admin-public", &c.AdminPublic, f.AdminPublic)
	overlay(fs, "close-on-first-eof", &c.CloseOnFirstEOF, f.CloseOnFirstEOF)
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
				// Warn: the balancer carries on, and zap's production
				// config adds a Go stack trace to Error lines, which says
				// nothing about a wrong file.
				log.Warn("reload refused; the running configuration stays", zap.Error(err))
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

// parseBackends reads each NAME=ADDR or ADDR; nil for none.
func parseBackends(list []string) []lb.Backend {
	var out []lb.Backend
	for _, s := range list {
		name, addr, ok := strings.Cut(s, "=")
		if !ok {
			name, addr = "", s
		}
		out = append(out, lb.Backend{Name: name, Addr: addr})
	}
	return out
}
