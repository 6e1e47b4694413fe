package backend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/krbfarm/krbfarm/internal/config"
)

// Defaults applied by Config when a field is left at its zero value.
const (
	DefaultListen          = "127.0.0.1:0"
	DefaultMaxClockSkew    = 5 * time.Minute
	DefaultMaxFieldLength  = 16384 // http.sys MaxFieldLength
	DefaultMaxRequestBytes = 16384 // http.sys MaxRequestBytes
	// MaxHTTPSysFieldLength is the largest MaxFieldLength http.sys takes.
	MaxHTTPSysFieldLength  = 65534
	DefaultReplayCacheSize = 1000000
	DefaultBodyTimeout     = 30 * time.Second
	DefaultHeaderTimeout   = 10 * time.Second
	DefaultIdleTimeout     = 2 * time.Minute
	DefaultMaxConnections  = 4096

	// DefaultMaxHeaderBytes is the old name of DefaultMaxFieldLength.
	DefaultMaxHeaderBytes = DefaultMaxFieldLength
)

// Providers, as IIS names them in windowsAuthentication/providers.
const (
	ProviderNegotiate = "Negotiate"
	ProviderNTLM      = "NTLM"
)

// DefaultProviders is IIS's default provider list, in its order.
func DefaultProviders() []string { return []string{ProviderNegotiate, ProviderNTLM} }

// Config describes one site (one host of the farm). The zero value of every
// optional field means the default documented next to it.
type Config struct {
	// Name is the host name shown in responses and logs, e.g. "server1". Required.
	Name string `yaml:"name"`
	// Listen is the address for ListenAndServe; "" means "127.0.0.1:0".
	Listen string `yaml:"listen"`
	// Keytab is the keytab file path. Required.
	Keytab string `yaml:"keytab"`
	// SPN is the service principal accepted, e.g. "HTTP/sso.krbfarm.localhost";
	// "" accepts any principal in the keytab.
	SPN string `yaml:"spn"`
	// Realm is the realm of the SPN; "" means the realm named in the ticket.
	Realm string `yaml:"realm"`
	// MaxClockSkew is the allowed difference between the client's and this
	// host's clocks; 0 means 5m (the Kerberos default).
	MaxClockSkew time.Duration `yaml:"max_clock_skew"`
	// ClockOffset is this host's clock error relative to real time (for skew
	// scenarios); 0 means none.
	ClockOffset time.Duration `yaml:"clock_offset"`
	// TLSCert and TLSKey, when both set, make the site serve HTTPS (used when
	// the load balancer passes TLS through); "" means plain HTTP.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// ReplayCacheSize bounds the replay cache (entries); 0 means 1,000,000.
	// When it is full of unexpired authenticators, new ones are refused
	// (reason REPLAY_CACHE_FULL) rather than any being forgotten.
	ReplayCacheSize int `yaml:"replay_cache_size"`
	// BodyTimeout bounds how long a request body may take to arrive once
	// the headers are in, like http.sys's EntityBody timer (default 2m);
	// 0 means 30s. Past it the host answers and closes the connection. No
	// request here needs a body, and a browser sends one at once.
	BodyTimeout time.Duration `yaml:"body_timeout,omitempty"`
	// HeaderTimeout bounds how long the request line and headers may take
	// to arrive, like http.sys's HeaderWait timer (default 2m); 0 means
	// 10s, as a browser sends its headers at once. Past it the connection
	// is closed unanswered.
	HeaderTimeout time.Duration `yaml:"header_timeout,omitempty"`
	// IdleTimeout bounds a keep-alive connection between requests, like
	// http.sys's IdleConnection timer and the IIS site's
	// connectionTimeout (both 2m); 0 means 2m.
	IdleTimeout time.Duration `yaml:"idle_timeout,omitempty"`
	// MaxConnections bounds the TCP connections served at once, like the
	// IIS site limit maxConnections (default 4294967295, i.e. none); 0
	// means 4096. A connection past it is answered "503 Service
	// Unavailable" and closed (closed unanswered on an HTTPS site), as
	// http.sys answers 503 when an application pool's queue is full.
	MaxConnections int `yaml:"maxConnections,omitempty"`

	// The IIS settings below carry IIS's own names (applicationHost.config,
	// http.sys registry values) and the rules from the field notes.

	// MaxFieldLength is the largest request header field ("Name: value")
	// accepted, like http.sys MaxFieldLength; 0 means 16384. A larger field
	// (a Kerberos token with a big PAC: a user in many groups) gets IIS's
	// "400 Bad Request - Request Header Too Long".
	MaxFieldLength int `yaml:"maxFieldLength,omitempty"`
	// MaxRequestBytes bounds the request line plus all headers, like
	// http.sys MaxRequestBytes; 0 means 16384. Over it: the same 400.
	MaxRequestBytes int `yaml:"maxRequestBytes,omitempty"`
	// MaxHeaderBytes is the old name of MaxFieldLength, still read; 0 means
	// unset. Set only one of the two.
	MaxHeaderBytes int `yaml:"max_header_bytes,omitempty"`
	// BatchLogonRight says whether the app pool identity holds "Log on as a
	// batch job" (SeBatchLogonRight); absent (nil) means it does. false: the
	// pool cannot start, so the host logs WAS event 5021 and security event
	// 4625 (logon type 4, 0xC000015B) at start, and answers every request,
	// /healthz included, with IIS's 503 Service Unavailable. Fix: grant the
	// right by GPO to the account, gpupdate /force.
	BatchLogonRight *bool `yaml:"batchLogonRight,omitempty"`
	// AuthPersistNonNTLM: absent (nil) means true, as IIS. true: once a TCP
	// connection authenticated with Kerberos, later requests on it need no
	// token (session-based). false: Kerberos is checked on every request.
	// NTLM is always connection-bound.
	AuthPersistNonNTLM *bool `yaml:"authPersistNonNTLM,omitempty"`
	// AuthPersistSingleRequest: true means every request must authenticate,
	// Kerberos and NTLM alike; false (default) as IIS. Responses carry
	// "Persistent-Auth: true|false" saying whether the connection stays
	// authenticated.
	AuthPersistSingleRequest bool `yaml:"authPersistSingleRequest,omitempty"`
	// Providers lists the Windows Authentication providers in order, each
	// sent as its own WWW-Authenticate header on a 401: "Negotiate" (SPNEGO,
	// Kerberos) and "NTLM". Empty means [Negotiate, NTLM] as IIS. With NTLM
	// listed, NTLM tokens (in the NTLM or the Negotiate scheme) get the NTLM
	// handshake; without it they are refused with reason NTLM.
	Providers []string `yaml:"providers,omitempty,flow"`
	// NTLMUsers is a file (mode 0600) of "user:NT-hash-hex" lines that NTLMv2
	// responses are checked against, as a domain controller would; "" means
	// no NTLM user can log on (each try is a 4625).
	NTLMUsers string `yaml:"ntlm_users,omitempty"`
	// EventLog is a file the host appends Windows-like security events to,
	// as JSON lines (4624, 4625, 5021); "" means none.
	EventLog string `yaml:"event_log,omitempty"`
	// ProxyProtocol says which load balancers' PROXY protocol headers are
	// believed, e.g. {trusted: [127.0.0.1/32]}; the zero value reads none.
	// See ProxyProtocol for the trust policy.
	ProxyProtocol ProxyProtocol `yaml:"proxy_protocol,omitempty"`
	// ExtendedProtection is IIS's extendedProtection for Kerberos tokens:
	// tokenChecking None|Allow|Require, flags and spns; the zero value is
	// None (bindings ignored). See ExtendedProtection. NTLM logons are not
	// checked.
	ExtendedProtection ExtendedProtection `yaml:"extendedProtection,omitempty"`
}

// withDefaults returns c with every zero optional field resolved. It is the
// one place defaults are decided.
func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.MaxFieldLength == 0 {
		c.MaxFieldLength = c.MaxHeaderBytes
	}
	if c.MaxFieldLength == 0 {
		c.MaxFieldLength = DefaultMaxFieldLength
	}
	c.MaxHeaderBytes = c.MaxFieldLength
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.ReplayCacheSize == 0 {
		c.ReplayCacheSize = DefaultReplayCacheSize
	}
	if c.BodyTimeout == 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.HeaderTimeout == 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.BatchLogonRight == nil {
		c.BatchLogonRight = ptr(true)
	}
	if c.AuthPersistNonNTLM == nil {
		c.AuthPersistNonNTLM = ptr(true)
	}
	if len(c.Providers) == 0 {
		c.Providers = DefaultProviders()
	}
	c.Providers = canonicalProviders(c.Providers)
	c.ExtendedProtection.TokenChecking = c.ExtendedProtection.mode()
	return c
}

func ptr[T any](v T) *T { return &v }

// canonicalProviders spells each known provider as IIS does.
func canonicalProviders(ps []string) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		for _, known := range DefaultProviders() {
			if strings.EqualFold(p, known) {
				p = known
			}
		}
		out = append(out, p)
	}
	return out
}

// hasProvider reports whether the resolved config lists provider p.
func (c *Config) hasProvider(p string) bool {
	for _, q := range c.Providers {
		if q == p {
			return true
		}
	}
	return false
}

// Validate reports every field that is wrong and how to fix it, all at
// once: each a *config.FieldError naming the field by its YAML path,
// joined with errors.Join.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, config.Errorf("name", "required: set it to the host name shown in responses, e.g. \"server1\""))
	}
	if c.Keytab == "" {
		errs = append(errs, config.Errorf("keytab", "required: set it to the keytab file path"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, config.Errorf("listen", "%q: %v: use host:port, e.g. \"127.0.0.1:8081\"", c.Listen, err))
		}
	}
	if err := validateSPN(c.SPN); err != nil {
		errs = append(errs, err)
	}
	if strings.ContainsAny(c.Realm, "@/ ") {
		errs = append(errs, config.Errorf("realm", "%q: must be a bare realm name, e.g. \"KRBFARM.LOCALHOST\"", c.Realm))
	}
	errs = append(errs, c.validateNumbers()...)
	errs = append(errs, validateProviders(c.Providers)...)
	if err := c.ProxyProtocol.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.ExtendedProtection.validate(); err != nil {
		errs = append(errs, err)
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, config.Errorf(yes(c.TLSCert == "", "tls_cert", "tls_key"), "set both tls_cert and tls_key to serve HTTPS, or neither for HTTP"))
	}
	return errors.Join(errs...)
}

func (c *Config) validateNumbers() []error {
	var errs []error
	if c.MaxClockSkew < 0 {
		errs = append(errs, config.Errorf("max_clock_skew", "%v: must be positive, or 0 for 5m", c.MaxClockSkew))
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, config.Errorf("max_header_bytes", "%d: must be positive, or 0 for 16384", c.MaxHeaderBytes))
	}
	if c.MaxFieldLength < 0 {
		errs = append(errs, config.Errorf("maxFieldLength", "%d: must be positive, or 0 for 16384", c.MaxFieldLength))
	}
	if c.MaxHeaderBytes > 0 && c.MaxFieldLength > 0 && c.MaxHeaderBytes != c.MaxFieldLength {
		errs = append(errs, config.Errorf("max_header_bytes", "%d and maxFieldLength %d: max_header_bytes is the old name of maxFieldLength: keep only maxFieldLength", c.MaxHeaderBytes, c.MaxFieldLength))
	}
	if c.MaxRequestBytes < 0 {
		errs = append(errs, config.Errorf("maxRequestBytes", "%d: must be positive, or 0 for 16384", c.MaxRequestBytes))
	}
	if c.ReplayCacheSize < 0 {
		errs = append(errs, config.Errorf("replay_cache_size", "%d: must be positive, or 0 for 1000000", c.ReplayCacheSize))
	}
	if c.BodyTimeout < 0 {
		errs = append(errs, config.Errorf("body_timeout", "%v: must be positive, or 0 for 30s", c.BodyTimeout))
	}
	if c.HeaderTimeout < 0 {
		errs = append(errs, config.Errorf("header_timeout", "%v: must be positive, or 0 for 10s", c.HeaderTimeout))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, config.Errorf("idle_timeout", "%v: must be positive, or 0 for 2m", c.IdleTimeout))
	}
	if c.MaxConnections < 0 {
		errs = append(errs, config.Errorf("maxConnections", "%d: must be positive, or 0 for 4096", c.MaxConnections))
	}
	return errs
}

func validateProviders(ps []string) []error {
	var errs []error
	seen := map[string]bool{}
	for _, p := range canonicalProviders(ps) {
		switch {
		case p != ProviderNegotiate && p != ProviderNTLM:
			errs = append(errs, config.Errorf("providers", "%q is not a provider: use Negotiate and/or NTLM", p))
		case seen[p]:
			errs = append(errs, config.Errorf("providers", "%s is listed twice: list each provider once", p))
		}
		seen[p] = true
	}
	return errs
}

func validateSPN(spn string) error {
	if spn == "" {
		return nil
	}
	if strings.Contains(spn, "@") {
		return config.Errorf("spn", "%q: drop the @REALM suffix and put the realm in realm", spn)
	}
	svc, host, ok := strings.Cut(spn, "/")
	if !ok || svc == "" || host == "" {
		return config.Errorf("spn", "%q: use service/host, e.g. \"HTTP/sso.krbfarm.localhost\"", spn)
	}
	return nil
}

// LoadConfig reads a YAML config file strictly (see DecodeConfig) and
// validates it. Durations are written like "5m" or "90s".
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("backend config: %w", err)
	}
	defer f.Close()
	c, err := DecodeConfig(f)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return c, fmt.Errorf("backend config %s: %w", path, err)
	}
	return c, nil
}

// DecodeConfig reads one YAML document; an unknown key is an error naming
// the key and its line. It does not validate: callers that lay flags over
// the file validate the result.
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	err := config.Decode(r, &c)
	return c, err
}

func yes[T any](cond bool, a, b T) T {
	if cond {
		return a
	}
	return b
}
