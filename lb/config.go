package lb

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"
)

// Modes of Config.Mode.
const (
	ModeTerminate   = "terminate"   // TLS ends at the balancer; plain TCP to backends
	ModePassthrough = "passthrough" // bytes forwarded untouched
	ModeReencrypt   = "reencrypt"   // TLS ends here and a new TLS connection goes to the backend
)

// Backend is one server behind the balancer.
type Backend struct {
	Name     string `yaml:"name"`      // label for logs and Status; "" means Addr
	Addr     string `yaml:"addr"`      // host:port; required
	Weight   int    `yaml:"weight"`    // share of new connections against the others'; 0 = 1
	MaxConns int    `yaml:"max_conns"` // connections at once; 0 = no limit
}

// Config configures a Server. The zero value of every field but Backends
// means its default, written next to the field.
type Config struct {
	Listen             string        `yaml:"listen"`               // front door for ListenAndServe; "" = "127.0.0.1:0"
	Backends           []Backend     `yaml:"backends"`             // at least one
	Mode               string        `yaml:"mode"`                 // ModeTerminate ("" = this) or ModePassthrough
	Balance            string        `yaml:"balance"`              // BalanceRoundRobin ("" = this), BalanceLeastConn or BalanceSource
	Health             Health        `yaml:"health"`               // active checks and passive ejection
	ProxyProtocol      string        `yaml:"proxy_protocol"`       // PROXY header to backends: "" (none), ProxyV1 or ProxyV2
	DialTimeout        time.Duration `yaml:"dial_timeout"`         // backend connect; 0 = 3s
	HandshakeTimeout   time.Duration `yaml:"handshake_timeout"`    // client TLS handshake (terminate); 0 = 10s
	HalfCloseTimeout   time.Duration `yaml:"half_close_timeout"`   // how long the other direction may last once one has ended; 0 = 30s
	IdleTimeout        time.Duration `yaml:"idle_timeout"`         // no byte either way for this long closes a connection; 0 = 10m
	DrainTimeout       time.Duration `yaml:"drain_timeout"`        // how long Shutdown callers (krbfarm lb on SIGTERM) let connections finish; 0 = 30s
	MaxConns           int           `yaml:"max_conns"`            // client connections at once; beyond, new ones wait in the kernel's backlog; 0 = no limit
	Admin              string        `yaml:"admin"`                // /metrics and /status for ListenAndServe, e.g. 127.0.0.1:9100; "" = none
	AdminPublic        bool          `yaml:"admin_public"`         // allow a non-loopback admin address
	CertFile           string        `yaml:"cert"`                 // terminate mode, unless New gets a *tls.Config
	KeyFile            string        `yaml:"key"`                  // goes with CertFile
	Certificates       []KeyPair     `yaml:"certificates"`         // more certificates, chosen by the client's SNI name; cert/key, if set, is the default
	CertReloadInterval time.Duration `yaml:"cert_reload_interval"` // how often certificate files are checked for change; 0 = 10s
	ACME               ACME          `yaml:"acme"`                 // certificates from an ACME server for some names
	BackendCA          string        `yaml:"backend_ca"`           // reencrypt: PEM CA(s) backends' certificates must chain to; "" = the system's roots
	BackendServerName  string        `yaml:"backend_server_name"`  // reencrypt: name checked in backends' certificates; "" = each backend's host
	Engine             string        `yaml:"engine"`               // EngineAuto ("" = this), EngineEpoll or EngineGoroutine
}

// Engines of Config.Engine: how passthrough connections are relayed.
const (
	EngineAuto      = "auto"      // EngineEpoll where it can run (Linux, passthrough), EngineGoroutine elsewhere
	EngineEpoll     = "epoll"     // event loops splicing between raw sockets: no goroutine per connection, no pipe per idle one
	EngineGoroutine = "goroutine" // a goroutine per direction (io.Copy); the only engine for terminate and reencrypt
)

// KeyPair names a PEM certificate chain and its key.
type KeyPair struct {
	CertFile string `yaml:"cert"`
	KeyFile  string `yaml:"key"`
}

// Defaults for the zero values of Config.
const (
	DefaultListen           = "127.0.0.1:0"
	DefaultDialTimeout      = 3 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultHalfCloseTimeout = 30 * time.Second
	DefaultIdleTimeout      = 10 * time.Minute // nginx stream's proxy_timeout
	DefaultDrainTimeout     = 30 * time.Second
)

// withDefaults returns c with every zero value replaced by its default. It
// is the one place defaults are resolved.
func (c Config) withDefaults() Config {
	c.Listen = orDefault(c.Listen, DefaultListen)
	c.Mode = orDefault(c.Mode, ModeTerminate)
	c.Engine = orDefault(c.Engine, EngineAuto)
	c.DialTimeout = orDefault(c.DialTimeout, DefaultDialTimeout)
	c.Balance = orDefault(c.Balance, BalanceRoundRobin)
	c.Health = c.Health.withDefaults()
	c.HandshakeTimeout = orDefault(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.HalfCloseTimeout = orDefault(c.HalfCloseTimeout, DefaultHalfCloseTimeout)
	c.IdleTimeout = orDefault(c.IdleTimeout, DefaultIdleTimeout)
	c.DrainTimeout = orDefault(c.DrainTimeout, DefaultDrainTimeout)
	c.CertReloadInterval = orDefault(c.CertReloadInterval, DefaultCertReloadInterval)
	c.Backends = append([]Backend(nil), c.Backends...)
	for i := range c.Backends {
		b := &c.Backends[i]
		b.Name = orDefault(b.Name, b.Addr)
		b.Weight = orDefault(b.Weight, 1)
	}
	return c
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Validate reports the first field that is wrong, by its yaml name.
func (c *Config) Validate() error {
	if c.Listen != "" {
		if _, err := checkHostPort(c.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	if err := validateBackends(c.Backends); err != nil {
		return err
	}
	switch c.Mode {
	case "", ModeTerminate, ModePassthrough, ModeReencrypt:
	default:
		return fmt.Errorf("mode: %q is not one of %s, %s, %s", c.Mode, ModeTerminate, ModePassthrough, ModeReencrypt)
	}
	switch c.Balance {
	case "", BalanceRoundRobin, BalanceLeastConn, BalanceSource:
	default:
		return fmt.Errorf("balance: %q is not one of %s, %s, %s", c.Balance, BalanceRoundRobin, BalanceLeastConn, BalanceSource)
	}
	if err := c.validateEngine(); err != nil {
		return err
	}
	if c.ProxyProtocol != "" && proxyVersion(c.ProxyProtocol) == 0 {
		return fmt.Errorf("proxy_protocol: %q is neither %q nor %q (or empty for none)", c.ProxyProtocol, ProxyV1, ProxyV2)
	}
	if err := c.Health.validate(); err != nil {
		return err
	}
	if err := validateDurations(c); err != nil {
		return err
	}
	if c.Admin != "" {
		if err := checkAdmin(c.Admin, c.AdminPublic); err != nil {
			return err
		}
	}
	if c.MaxConns < 0 {
		return fmt.Errorf("max_conns: %d is negative (0 means no limit)", c.MaxConns)
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("cert, key: set both or neither")
	}
	if err := c.ACME.validate(); err != nil {
		return err
	}
	for i, p := range c.Certificates {
		if p.CertFile == "" || p.KeyFile == "" {
			return fmt.Errorf("certificates[%d]: set both cert and key", i)
		}
	}
	return nil
}

// maxWeight bounds Backend.Weight so weight sums and products cannot
// overflow.
const maxWeight = 1 << 16

func validateBackends(backends []Backend) error {
	if len(backends) == 0 {
		return errors.New("backends: at least one is required")
	}
	seen := make(map[string]int, len(backends))
	for i, b := range backends {
		if b.Addr == "" {
			return fmt.Errorf("backends[%d].addr: required", i)
		}
		port, err := checkHostPort(b.Addr)
		if err != nil {
			return fmt.Errorf("backends[%d].addr: %w", i, err)
		}
		if port == 0 {
			return fmt.Errorf("backends[%d].addr: %q: port 0 cannot be dialled", i, b.Addr)
		}
		name := orDefault(b.Name, b.Addr)
		if j, dup := seen[name]; dup {
			return fmt.Errorf("backends[%d].name: %q is also backends[%d]", i, name, j)
		}
		seen[name] = i
		if b.Weight < 0 || b.Weight > maxWeight {
			return fmt.Errorf("backends[%d].weight: %d is not from 0 (meaning 1) to %d", i, b.Weight, maxWeight)
		}
		if b.MaxConns < 0 {
			return fmt.Errorf("backends[%d].max_conns: %d is negative (0 means no limit)", i, b.MaxConns)
		}
	}
	return nil
}

func validateDurations(c *Config) error {
	for _, d := range []struct {
		field string
		v     time.Duration
	}{
		{"dial_timeout", c.DialTimeout},
		{"handshake_timeout", c.HandshakeTimeout},
		{"half_close_timeout", c.HalfCloseTimeout},
		{"idle_timeout", c.IdleTimeout},
		{"drain_timeout", c.DrainTimeout},
		{"cert_reload_interval", c.CertReloadInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("%s: %v is negative", d.field, d.v)
		}
	}
	return nil
}

// checkHostPort accepts host:port with a numeric port and returns the
// port; the host may be empty (all interfaces) or a name resolved at dial
// time.
func checkHostPort(addr string) (uint16, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	return uint16(n), nil
}

func (c *Config) validateEngine() error {
	switch c.Engine {
	case "", EngineAuto, EngineGoroutine:
		return nil
	case EngineEpoll:
		if !epollSupported {
			return errors.New("engine: epoll runs on Linux only; use auto or goroutine")
		}
		if c.Mode != ModePassthrough {
			return errors.New("engine: epoll relays plain TCP only (mode passthrough); use auto or goroutine with TLS modes")
		}
		return nil
	}
	return fmt.Errorf("engine: %q is not one of %s, %s, %s", c.Engine, EngineAuto, EngineEpoll, EngineGoroutine)
}

// useEpoll reports whether c, defaults resolved, relays with the event
// loops.
func (c *Config) useEpoll() bool {
	return epollSupported && c.Mode == ModePassthrough && c.Engine != EngineGoroutine
}
