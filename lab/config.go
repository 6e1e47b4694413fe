package lab

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"cmp"

	"github.com/krbfarm/krbfarm/internal/config"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lb"
)

// Config describes a farm. The zero value is a working farm: realm
// KRBFARM.LOCALHOST, FQDN sso.krbfarm.localhost, user alice, shared account
// svc-web holding HTTP/sso.krbfarm.localhost, backends server1 and server2,
// and every port picked free on 127.0.0.1.
type Config struct {
	// StateDir holds everything the farm writes. "" = a temporary directory
	// removed by Close; a directory given here is kept.
	StateDir string `yaml:"state_dir"`
	// kdc.Realm is the Kerberos realm. "" = KRBFARM.LOCALHOST.
	Realm string `yaml:"realm"`
	// FQDN is the name users browse to; the SPN is HTTP/<FQDN>.
	// "" = sso.krbfarm.localhost (names under .localhost resolve to loopback).
	FQDN string `yaml:"fqdn"`
	// ServiceAccount is the shared account that holds the SPN. "" = svc-web.
	ServiceAccount string `yaml:"service_account"`
	// ServicePassword is that account's password. "" = random.
	ServicePassword string `yaml:"service_password"`
	// Users are the accounts that log in. nil = one user, alice, with
	// password "alice-password".
	Users []User `yaml:"users"`
	// KDCPort is the KDC's TCP and UDP port on 127.0.0.1. 0 = a free port.
	KDCPort int `yaml:"kdc_port"`
	// KDC is a KDC you run, as host:port, for the realm Realm: the lab then
	// provisions nothing and runs no kadmin.local, kdb5_util or krb5kdc;
	// the hosts decrypt with Keytab, and Users must exist in that KDC.
	// Commands that change the directory are refused (NoKadminError)
	// unless Kadmin is set. "" = the lab runs its own KDC.
	KDC string `yaml:"kdc"`
	// Kadmin is, with KDC, the host:port of that KDC's kadmind: the lab
	// then makes the service account, SPNs, machine accounts and missing
	// users there with MIT's remote kadmin client as Admin, derives every
	// host keytab from the passwords it set (no Keytab), and the directory
	// commands and scenarios work as on its own KDC. "" = no admin rights.
	Kadmin string `yaml:"kadmin"`
	// Admin is the principal kadmin authenticates as, e.g. admin/admin; it
	// needs kadm5.acl rights to add, delete, modify, list and change
	// passwords ("*"). Required with Kadmin.
	Admin string `yaml:"admin"`
	// AdminPassword is Admin's password, given to kadmin on its standard
	// input, never on a command line, never logged, never written to the
	// state dir. Not read from YAML: the CLI fills it from
	// KRBFARM_ADMIN_PASSWORD (AdminPasswordEnv).
	AdminPassword string `yaml:"-"`
	// Keytab is, with KDC, the keytab you exported from that KDC holding
	// the keys of HTTP/<FQDN> (the service account's, e.g. with
	// kadmin ktadd); every host gets a copy. Required with KDC.
	Keytab string `yaml:"keytab"`
	// Backends are the farm's hosts, one process each. nil = server1, server2.
	Backends []BackendConfig `yaml:"backends"`
	// LB is the front door.
	LB LBConfig `yaml:"lb"`
	// Exe is the program started for each backend as
	// `Exe backend --config FILE --listen-fd 3`. "" = this executable.
	Exe string `yaml:"exe"`
	// KrbPath is where to look for the MIT krb5 programs, a PATH-style list.
	// "" = $PATH, /usr/sbin, /usr/local/sbin, /sbin.
	KrbPath string `yaml:"krb_path"`
}

// User is a person's account in the realm.
type User struct {
	Name     string `yaml:"name"`     // e.g. alice
	Password string `yaml:"password"` // "" = <name>-password
}

// BackendConfig is one host of the farm.
type BackendConfig struct {
	Name string `yaml:"name"` // host name, e.g. server1; required
	// IIS is the site's Windows Authentication settings (identity,
	// useKernelMode, useAppPoolCredentials), written inline as IIS names
	// them. The zero value is the recommended farm: the pool runs as the
	// shared account, which decrypts tickets.
	IIS directory.IISSettings `yaml:",inline"`
	// ClockOffset is this host's clock error, e.g. 10m. 0 = none.
	ClockOffset time.Duration `yaml:"clock_offset"`
}

// LBConfig is the load balancer in front of the backends.
type LBConfig struct {
	// Listen is the front door's address. "" = 127.0.0.1:0 (a free port).
	Listen string `yaml:"listen"`
	// Mode is lb.ModeTerminate (TLS ends at the LB; the default),
	// lb.ModePassthrough (the backends serve TLS themselves) or
	// lb.ModeReencrypt (TLS
	// ends at the LB, which opens a new TLS connection to each backend and
	// verifies the backend's lab-CA certificate, like an F5 "SSL bridging").
	// "l7-pooling" (TLS ends at the LB, an HTTP proxy pools backend
	// connections across clients) demonstrates the L7 failure only.
	Mode string `yaml:"mode"`
	// ProxyProtocol makes the LB send a PROXY header ("v1" or "v2") on each
	// backend connection, and the hosts trust it from the LB's address
	// (127.0.0.1), so they log and show the real client address. "" = off,
	// as a real farm in front of IIS must be: http.sys does not speak PROXY.
	ProxyProtocol string `yaml:"proxy_protocol"`
	// Health is the LB's active check of each host: "http" (GET /healthz
	// must answer 200, so a host whose pool is stopped, answering 503, goes
	// down) or "tcp" (the port accepts). "" = http, tcp in passthrough
	// (the hosts speak TLS, which the HTTP check does not).
	Health string `yaml:"health"`
	// Cert and Key are a certificate and key (PEM files) for the FQDN to use
	// instead of one minted by the lab CA. "" = mint one.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// CA is the PEM file of the CA that signed Cert, for clients (farm.json's
	// ca_cert). "" = the system's roots. Ignored without Cert.
	CA string `yaml:"ca"`
}

// Defaults documented for users; the CLI's `up` uses DefaultListen.
const (
	DefaultRealm          = "KRBFARM.LOCALHOST"
	DefaultFQDN           = "sso.krbfarm.localhost"
	DefaultServiceAccount = "svc-web"
	DefaultUser           = "alice"
	DefaultListen         = "127.0.0.1:8443"
)

// LoadConfig reads a farm's YAML configuration strictly (see
// DecodeConfig) and validates it.
func LoadConfig(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	c, err := DecodeConfig(f)
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// DecodeConfig reads one YAML document; an unknown key is an error naming
// the key and its line. It does not validate: callers that lay flags over
// the file validate the result (Start does).
func DecodeConfig(r io.Reader) (Config, error) {
	var c Config
	err := config.Decode(r, &c)
	return c, err
}

// withDefaults returns c with every zero field resolved.
func (c Config) withDefaults() Config {
	c.Realm = cmp.Or(c.Realm, DefaultRealm)
	c.FQDN = strings.ToLower(cmp.Or(c.FQDN, DefaultFQDN))
	c.ServiceAccount = cmp.Or(c.ServiceAccount, DefaultServiceAccount)
	c.ServicePassword = cmp.Or(c.ServicePassword, directory.RandomPassword())
	if len(c.Users) == 0 {
		c.Users = []User{{Name: DefaultUser}}
	}
	users := make([]User, len(c.Users))
	for i, u := range c.Users {
		users[i] = User{Name: u.Name, Password: cmp.Or(u.Password, u.Name+"-password")}
	}
	c.Users = users
	if len(c.Backends) == 0 {
		c.Backends = []BackendConfig{{Name: "server1"}, {Name: "server2"}}
	}
	c.LB.Listen = cmp.Or(c.LB.Listen, "127.0.0.1:0")
	c.LB.Mode = cmp.Or(c.LB.Mode, lb.ModeTerminate)
	if c.LB.Health == "" {
		c.LB.Health = "http"
		if c.LB.Mode == lb.ModePassthrough {
			c.LB.Health = "tcp" // the hosts speak TLS, which the HTTP check does not
		}
	}
	return c
}

// Validate says which fields are wrong and how to fix them, all at once:
// each error a *config.FieldError naming the field's YAML path, joined.
// A zero field means its default, as in Start. Every name that reaches the
// KDC is checked against AD's and MIT's rules (names.go); passwords may
// hold any printable character.
func (c *Config) Validate() error {
	d := c.withDefaults()
	return d.validate()
}

func (c *Config) validate() error {
	errs := []error{
		fieldError(kdc.CheckRealm("realm", c.Realm)),
		fieldError(kdc.CheckFQDN("fqdn", c.FQDN)),
		fieldError(kdc.CheckAccountName("service_account", c.ServiceAccount, directory.KindService)),
		validateUsers(c.Users, c.ServiceAccount),
		validateBackends(c.Backends),
		c.LB.validate(),
	}
	if c.ServicePassword != "" {
		errs = append(errs, fieldError(kdc.CheckPassword("service_password", c.ServicePassword)))
	}
	if c.KDCPort < 0 || c.KDCPort > 65535 {
		errs = append(errs, config.Errorf("kdc_port", "%d: use 1-65535, or 0 for a free port", c.KDCPort))
	}
	return errors.Join(append(errs, c.validateExternalKDC())...)
}

// fieldError turns a kdc check's *kdc.NameError, which names its field,
// into a *config.FieldError at that path, so that cmd can name the flag
// that set it; the NameError stays in the chain for errors.As.
func fieldError(err error) error {
	var ne *kdc.NameError
	if !errors.As(err, &ne) || ne.Field == "" {
		return err
	}
	rule := *ne
	rule.Field = ""
	return &config.FieldError{Path: ne.Field, Err: &rule}
}

// validateExternalKDC checks kdc and keytab, which go together.
func (c *Config) validateExternalKDC() error {
	var errs []error
	if c.KDC == "" {
		if c.Keytab != "" {
			errs = append(errs, config.Errorf("keytab", "%q: only with kdc (a KDC you run); the lab's own KDC makes its keytabs", c.Keytab))
		}
		if c.Kadmin != "" || c.Admin != "" {
			errs = append(errs, fmt.Errorf("kadmin %q, admin %q: only with kdc (a KDC you run); the lab's own KDC needs neither", c.Kadmin, c.Admin))
		}
		return errors.Join(errs...)
	}
	if c.Admin != "" && c.Kadmin == "" {
		errs = append(errs, fmt.Errorf("admin %q: only with kadmin, the host:port of your kadmind", c.Admin))
	}
	if host, port, err := net.SplitHostPort(c.KDC); err != nil || host == "" || port == "" {
		errs = append(errs, config.Errorf("kdc", "%q: use host:port, e.g. 127.0.0.1:88", c.KDC))
	}
	switch {
	case c.Kadmin != "" && c.Keytab != "":
		errs = append(errs, config.Errorf("keytab", "%q: not with kadmin: krbfarm makes %s and its keys in your KDC itself; leave keytab out", c.Keytab, c.SPN()))
	case c.Kadmin != "":
		if err := c.remoteKadmin("").Check(c.Realm); err != nil {
			errs = append(errs, err)
		}
	case c.Keytab == "":
		errs = append(errs, config.Errorf("keytab", "required with kdc (or give kadmin and admin): export the keys of %s from your KDC (kadmin ktadd -k FILE %s)", c.SPN(), c.SPN()))
	}
	if c.KDCPort != 0 {
		errs = append(errs, config.Errorf("kdc_port", "%d: the lab runs no KDC with kdc %s; leave it 0", c.KDCPort, c.KDC))
	}
	return errors.Join(errs...)
}

// AdminPasswordEnv is the environment variable the CLI reads
// Config.AdminPassword from (and OpenAdmin, for a farm with Kadmin).
const AdminPasswordEnv = "KRBFARM_ADMIN_PASSWORD"

// remoteKadmin is the kadmin client for Kadmin as Admin (at the realm
// when the principal names none); path is the kadmin program.
func (c *Config) remoteKadmin(path string) *kdc.RemoteKadmin {
	p := c.Admin
	if p != "" && !strings.Contains(p, "@") {
		p += "@" + c.Realm
	}
	return &kdc.RemoteKadmin{Path: path, Addr: c.Kadmin, Principal: p, Password: c.AdminPassword}
}

func (l *LBConfig) validate() error {
	var errs []error
	switch {
	case !lb.ValidMode(l.Mode):
		errs = append(errs, config.Errorf("lb.mode", "%q: use %s", l.Mode, orList(lb.Modes())))
	case l.Health == "http" && l.Mode == lb.ModePassthrough:
		errs = append(errs, config.Errorf("lb.health", "http: in %s the hosts speak TLS, which the LB's HTTP check does not: use tcp, or lb.mode %s", lb.ModePassthrough, lb.ModeReencrypt))
	case l.Mode == lb.ModeL7Pool && l.ProxyProtocol != "":
		errs = append(errs, config.Errorf("lb.proxy_protocol", "not with lb.mode %s (a pooled connection carries many clients)", lb.ModeL7Pool))
	}
	if l.ProxyProtocol != "" && l.ProxyProtocol != "v1" && l.ProxyProtocol != "v2" {
		errs = append(errs, config.Errorf("lb.proxy_protocol", "%q: use v1, v2, or nothing for none", l.ProxyProtocol))
	}
	if l.Health != "" && l.Health != "tcp" && l.Health != "http" {
		errs = append(errs, config.Errorf("lb.health", "%q: use http or tcp", l.Health))
	}
	if (l.Cert == "") != (l.Key == "") {
		errs = append(errs, config.Errorf("lb.cert", "give lb.cert and lb.key both, or neither to use the lab CA"))
	}
	if _, _, err := net.SplitHostPort(l.Listen); err != nil {
		errs = append(errs, config.Errorf("lb.listen", "%q: use host:port, e.g. %s", l.Listen, DefaultListen))
	}
	return errors.Join(errs...)
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// validateUsers checks each user's name and password, and that no two
// accounts share a name (AD compares them case-insensitively).
func validateUsers(users []User, service string) error {
	var errs []error
	seen := map[string]bool{strings.ToLower(service): true}
	for i, u := range users {
		at := fmt.Sprintf("users[%d]", i)
		errs = append(errs, fieldError(kdc.CheckAccountName(at+".name", u.Name, directory.KindUser)))
		if u.Password != "" { // "" = <name>-password
			errs = append(errs, fieldError(kdc.CheckPassword(at+".password", u.Password)))
		}
		if k := strings.ToLower(u.Name); seen[k] {
			errs = append(errs, config.Errorf(at+".name", "%q: used twice (or by service_account); names must be unique, case-insensitive", u.Name))
		}
		seen[strings.ToLower(u.Name)] = true
	}
	return errors.Join(errs...)
}

func validateBackends(bs []BackendConfig) error {
	var errs []error
	seen := map[string]bool{}
	for i, b := range bs {
		at := fmt.Sprintf("backends[%d].name", i)
		errs = append(errs, fieldError(kdc.CheckHostName(at, b.Name)))
		if k := strings.ToLower(b.Name); seen[k] {
			errs = append(errs, config.Errorf(at, "%q: used twice; names must be unique", b.Name))
		}
		seen[strings.ToLower(b.Name)] = true
	}
	return errors.Join(errs...)
}

// SPN is the service principal name the farm serves, HTTP/<FQDN>.
func (c *Config) SPN() string { return "HTTP/" + c.FQDN }

// domain is the DNS domain mapped to the realm: the FQDN less its first label.
func (c *Config) domain() string {
	_, d, _ := strings.Cut(c.FQDN, ".")
	return d
}

// seed is the domain a fresh farm of c starts with.
func (c *Config) seed() directory.Seed {
	s := directory.Seed{Realm: c.Realm, Domain: c.domain(), SPN: c.SPN(),
		ServiceAccount: c.ServiceAccount, ServicePassword: c.ServicePassword}
	for _, u := range c.Users {
		s.Users = append(s.Users, directory.SeedUser{Name: u.Name, Password: u.Password})
	}
	for _, b := range c.Backends {
		s.Hosts = append(s.Hosts, directory.SeedHost{Name: b.Name, IIS: b.IIS, ClockOffset: b.ClockOffset})
	}
	return s
}
