package backend

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied by Config when a field is left at its zero value.
const (
	DefaultListen          = "127.0.0.1:0"
	DefaultMaxClockSkew    = 5 * time.Minute
	DefaultMaxHeaderBytes  = 16384 // http.sys MaxFieldLength
	DefaultReplayCacheSize = 1000000
)

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
	// MaxHeaderBytes is the largest request header field accepted, like
	// http.sys MaxFieldLength; 0 means 16384. Larger headers get IIS's
	// "400 Request Header Too Long".
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// ReplayCacheSize bounds the replay cache (entries); 0 means 1,000,000.
	ReplayCacheSize int `yaml:"replay_cache_size"`
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
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.ReplayCacheSize == 0 {
		c.ReplayCacheSize = DefaultReplayCacheSize
	}
	return c
}

// Validate reports the first field that is wrong and how to fix it.
func (c *Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("name is required: set it to the host name shown in responses, e.g. \"server1\""))
	}
	if c.Keytab == "" {
		errs = append(errs, errors.New("keytab is required: set it to the keytab file path"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("listen %q: %v: use host:port, e.g. \"127.0.0.1:8081\"", c.Listen, err))
		}
	}
	if err := validateSPN(c.SPN); err != nil {
		errs = append(errs, err)
	}
	if strings.ContainsAny(c.Realm, "@/ ") {
		errs = append(errs, fmt.Errorf("realm %q: must be a bare realm name, e.g. \"KRBFARM.LOCALHOST\"", c.Realm))
	}
	errs = append(errs, c.validateNumbers()...)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: set both to serve HTTPS, or neither for HTTP"))
	}
	return errors.Join(errs...)
}

func (c *Config) validateNumbers() []error {
	var errs []error
	if c.MaxClockSkew < 0 {
		errs = append(errs, fmt.Errorf("max_clock_skew %v: must be positive, or 0 for 5m", c.MaxClockSkew))
	}
	if c.MaxHeaderBytes < 0 {
		errs = append(errs, fmt.Errorf("max_header_bytes %d: must be positive, or 0 for 16384", c.MaxHeaderBytes))
	}
	if c.ReplayCacheSize < 0 {
		errs = append(errs, fmt.Errorf("replay_cache_size %d: must be positive, or 0 for 1000000", c.ReplayCacheSize))
	}
	return errs
}

func validateSPN(spn string) error {
	if spn == "" {
		return nil
	}
	if strings.Contains(spn, "@") {
		return fmt.Errorf("spn %q: drop the @REALM suffix and put the realm in realm", spn)
	}
	svc, host, ok := strings.Cut(spn, "/")
	if !ok || svc == "" || host == "" {
		return fmt.Errorf("spn %q: use service/host, e.g. \"HTTP/sso.krbfarm.localhost\"", spn)
	}
	return nil
}

// LoadConfig reads a YAML config file, rejecting unknown fields, and
// validates it. Durations are written like "5m" or "90s".
func LoadConfig(path string) (Config, error) {
	var c Config
	f, err := os.Open(path)
	if err != nil {
		return c, fmt.Errorf("backend config: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("backend config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("backend config %s: %w", path, err)
	}
	return c, nil
}
