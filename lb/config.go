package lb

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/krbfarm/krbfarm/internal/config"
)

// Modes of Config.Mode.
const (
	ModeTerminate   = "terminate"   // TLS ends at the balancer; plain TCP to backends
	ModePassthrough = "passthrough" // bytes forwarded untouched
	ModeReencrypt   = "reencrypt"   // TLS ends here and a new TLS connection goes to the backend
	// ModeL7Pool is a demonstration of a misconfigured ADC, never for
	// production: TLS ends here and an HTTP reverse proxy sends requests
	// over backend connections pooled across clients, so one user's
	// connection-bound logon serves another's requests (l7pool.go).
	ModeL7Pool = "l7-pooling"
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
	Mode               string        `yaml:"mode"`                 // ModeTerminate ("" = this), ModePassthrough, ModeReencrypt or ModeL7Pool (demonstration only)
	Balance            string        `yaml:"balance"`              // BalanceRoundRobin ("" = this), BalanceLeastConn or BalanceSource
	Health             Health        `yaml:"health"`               // active checks and passive ejection
	ProxyProtocol      string        `yaml:"proxy_protocol"`       // PROXY header to backends: "" (none), ProxyV1 or ProxyV2
	DialTimeout        time.Duration `yaml:"dial_timeout"`         // backend connect; 0 = 3s
	HandshakeTimeout   time.Duration `yaml:"handshake_timeout"`    // client TLS handshake (terminate); 0 = 10s
	HalfCloseTimeout   time.Duration `yaml:"half_close_timeout"`   // how long the other direction may last once one has ended; 0 = 30s
	CloseOnFirstEOF    bool          `yaml:"close_on_first_eof"`   // false: an EOF half-closes the other side (see HalfCloseTimeout); true: the first EOF, its bytes written, closes both sides (nginx stream's default)
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
	c.Listen = cmp.Or(c.Listen, DefaultListen)
	c.Mode = cmp.Or(c.Mode, ModeTerminate)
	c.Engine = cmp.Or(c.Engine, EngineAuto)
	c.DialTimeout = cmp.Or(c.DialTimeout, DefaultDialTimeout)
	c.Balance = cmp.Or(c.Balance, BalanceRoundRobin)
	c.Health = c.Health.withDefaults()
	c.HandshakeTimeout = cmp.Or(c.HandshakeTimeout, DefaultHandshakeTimeout)
	c.HalfCloseTimeout = cmp.Or(c.HalfCloseTimeout, DefaultHalfCloseTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DefaultDrainTimeout)
	c.CertReloadInterval = cmp.Or(c.CertReloadInterval, DefaultCertReloadInterval)
	c.Backends = append([]Backend(nil), c.Backends...)
	for i := range c.Backends {
		b := &c.Backends[i]
		b.Name = cmp.Or(b.Name, b.Addr)
		b.Weight = cmp.Or(b.Weight, 1)
	}
	return c
}

// Modes lists the values of Config.Mode.
func Modes() []string { return []string{ModeTerminate, ModePassthrough, ModeReencrypt, ModeL7Pool} }

// Balances lists the values of Config.Balance.
func Balances() []string { return []string{BalanceRoundRobin, BalanceLeastConn, BalanceSource} }

// Engines lists the values of Config.Engine.
func Engines() []string { return []string{EngineAuto, EngineEpoll, EngineGoroutine} }

// ValidMode reports whether m is a value of Config.Mode ("" included, the
// default).
func ValidMode(m string) bool { return m == "" || slices.Contains(Modes(), m) }

// Validate reports every field that is wrong, all at once: each error is a
// *config.FieldError naming the field by its YAML path
// ("backends[1].addr: ..."), joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	if c.Listen != "" {
		if _, err := checkHostPort(c.Listen); err != nil {
			errs = append(errs, config.Errorf("listen", "%w: use host:port, e.g. 127.0.0.1:8443, or port 0 for a free one (127.0.0.1:0)", err))
		}
	}
	errs = append(errs, validateBackends(c.Backends)...)
	errs = append(errs, oneOf("mode", c.Mode, Modes()), oneOf("balance", c.Balance, Balances()), c.validateEngine())
	if c.ProxyProtocol != "" && c.Mode == ModeL7Pool {
		errs = append(errs, config.Errorf("proxy_protocol", "not with mode %s: a pooled backend connection carries many clients' requests, so no one client's PROXY header fits it (X-Forwarded-For says who each is)", ModeL7Pool))
	} else if c.ProxyProtocol != "" && proxyVersion(c.ProxyProtocol) == 0 {
		errs = append(errs, config.Errorf("proxy_protocol", "%q is neither %q nor %q (or empty for none)", c.ProxyProtocol, ProxyV1, ProxyV2))
	}
	errs = append(errs, c.Health.validate()...)
	errs = append(errs, validateDurations(c)...)
	if c.Admin != "" {
		errs = append(errs, checkAdmin(c.Admin, c.AdminPublic))
	}
	if c.MaxConns < 0 {
		errs = append(errs, config.Errorf("max_conns", "%d is negative (0 means no limit)", c.MaxConns))
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, config.Errorf(yes(c.CertFile == "", "cert", "key"), "set both cert and key, or neither"))
	}
	errs = append(errs, c.ACME.validate())
	for i, p := range c.Certificates {
		if p.CertFile == "" || p.KeyFile == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("certificates[%d]", i), "set both cert and key"))
		}
	}
	return errors.Join(errs...)
}

// oneOf checks that v, if set, is one of allowed.
func oneOf(path, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return config.Errorf(path, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

func yes[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}

// maxWeight bounds Backend.Weight so weight sums and products cannot
// overflow.
const maxWeight = 1 << 16

func validateBackends(backends []Backend) []error {
	if len(backends) == 0 {
		return []error{config.Errorf("backends", "at least one is required")}
	}
	var errs []error
	seen := make(map[string]int, len(backends))
	for i, b := range backends {
		at := func(field, format string, args ...any) {
			errs = append(errs, config.Errorf(fmt.Sprintf("backends[%d].%s", i, field), format, args...))
		}
		if port, err := checkHostPort(b.Addr); b.Addr == "" {
			at("addr", "required")
		} else if err != nil {
			at("addr", "%w", err)
		} else if port == 0 {
			at("addr", "%q: port 0 cannot be dialled", b.Addr)
		}
		name := cmp.Or(b.Name, b.Addr)
		if j, dup := seen[name]; dup {
			at("name", "%q is also backends[%d]", name, j)
		}
		seen[name] = i
		if b.Weight < 0 || b.Weight > maxWeight {
			at("weight", "%d is not from 0 (meaning 1) to %d", b.Weight, maxWeight)
		}
		if b.MaxConns < 0 {
			at("max_conns", "%d is negative (0 means no limit)", b.MaxConns)
		}
	}
	return errs
}

func validateDurations(c *Config) []error {
	var errs []error
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
			errs = append(errs, config.Errorf(d.field, "%v is negative", d.v))
		}
	}
	return errs
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
			return config.Errorf("engine", "epoll runs on Linux only; use auto or goroutine")
		}
		if c.Mode != ModePassthrough {
			return config.Errorf("engine", "epoll relays plain TCP only (mode passthrough); use auto or goroutine with TLS modes")
		}
		return nil
	}
	return oneOf("engine", c.Engine, Engines())
}

// useEpoll reports whether c, defaults resolved, relays with the event
// loops.
func (c *Config) useEpoll() bool {
	return epollSupported && c.Mode == ModePassthrough && c.Engine != EngineGoroutine
}

// LoadConfig reads the YAML file at path strictly (see DecodeConfig) and
// validates it.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("lb config: %w", err)
	}
	defer f.Close()
	c, err := DecodeConfig(f)
	if err != nil {
		return c, fmt.Errorf("lb config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("lb config %s: %w", path, err)
	}
	return c, nil
}

// DecodeConfig reads one YAML document; an unknown key is an error naming
// the key and its line. It does not validate: callers that lay flags over
// the file validate the result (New does).
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	err := config.Decode(r, &c)
	return c, err
}
