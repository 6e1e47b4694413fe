package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"cmp"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lb"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// StateInUseError says another farm holds the state directory.
type StateInUseError struct {
	Dir string
	PID int // the holder's PID, 0 if unknown
}

func (e *StateInUseError) Error() string {
	return fmt.Sprintf("state dir %s is in use by a running farm (pid %d): stop that farm first (kill -INT %d), or pick another --state", e.Dir, e.PID, e.PID)
}

// lockDir takes an exclusive lock on dir/lock, released when this process
// ends however it ends, and records our PID in it.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state dir lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		var pid int
		fmt.Sscan(strings.TrimSpace(string(b)), &pid)
		return nil, &StateInUseError{Dir: dir, PID: pid}
	}
	f.Truncate(0)
	fmt.Fprintf(f, "%d\n", os.Getpid())
	return f, nil
}

// makeCerts creates (or reuses) the lab CA and mints the FQDN's certificate.
// The CA survives restarts of a kept state dir, so a browser or curl that
// trusts it once keeps trusting it.
func (f *Farm) makeCerts(context.Context, *kdc.Tools) error {
	dir := filepath.Join(f.Dir, "tls")
	f.CAFile = filepath.Join(dir, "ca.pem")
	ca, err := tlsterm.NewCA(f.CAFile, filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return err
	}
	f.ca = ca
	if f.Config.LB.Cert != "" {
		f.CAFile = f.Config.LB.CA
		return nil
	}
	// The wildcard lets users reach the farm by an alias (alias-name scenario).
	names := []string{f.Config.FQDN, "*." + f.Config.domain(), "localhost", "127.0.0.1"}
	return ca.Issue(names, f.certFile(), f.keyFile())
}

// certFile and keyFile are the FQDN's certificate: the user's, or the lab's.
func (f *Farm) certFile() string {
	return cmp.Or(f.Config.LB.Cert, filepath.Join(f.Dir, "tls", f.Config.FQDN+".pem"))
}

func (f *Farm) keyFile() string {
	return cmp.Or(f.Config.LB.Key, filepath.Join(f.Dir, "tls", f.Config.FQDN+"-key.pem"))
}

// startHosts gives each host a copy of the shared keytab and its config,
// and starts them all at once.
func (f *Farm) startHosts(ctx context.Context, _ *kdc.Tools) error {
	exe, err := f.exe()
	if err != nil {
		return err
	}
	hostTLS := f.Config.LB.Mode == lb.ModePassthrough || f.Config.LB.Mode == lb.ModeReencrypt
	errc := make(chan error, len(f.Config.Backends))
	for _, b := range f.Config.Backends {
		h := newHost(f.Dir, b.Name, exe)
		h.TLS = hostTLS
		f.watchHost(h)
		if f.Config.LB.Cert == "" {
			h.ca = f.ca.CertPool()
		}
		f.Hosts = append(f.Hosts, h)
		if err := f.prepareHost(h); err != nil {
			return err
		}
		go func() { errc <- h.start(ctx) }()
	}
	var errs []error
	for range f.Hosts {
		errs = append(errs, <-errc)
	}
	return errors.Join(errs...)
}

func (f *Farm) prepareHost(h *Host) error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return err
	}
	d, err := directory.Load(f.Dir)
	if err != nil {
		return err
	}
	hs := d.Host(h.Name)
	writeKeytab := func() error { return directory.WriteHostKeytab(d, hs, h.Keytab) }
	if f.Config.Keytab != "" { // a KDC of the user's, without kadmin
		writeKeytab = func() error { return copyServiceKeytab(f.Config.Keytab, h.Keytab) }
	}
	if err := writeKeytab(); err != nil {
		return fmt.Errorf("give %s its keytab: %w", h.Name, err)
	}
	// No SPN pinned: like http.sys, the host accepts a ticket for any SPN
	// whose key it holds (an alias SPN registered on its account works).
	cfg := backend.Config{Name: h.Name, Keytab: h.Keytab, Realm: f.Config.Realm, ClockOffset: hs.ClockOffset,
		BatchLogonRight: hs.IIS.BatchLogonRight, MaxFieldLength: hs.IIS.MaxFieldLength, MaxRequestBytes: hs.IIS.MaxRequestBytes,
		ExtendedProtection: hs.IIS.ExtendedProtection, AuthPersistSingleRequest: hs.IIS.AuthPersistSingleRequest}
	cfg.EventLog = EventsPath(f.Dir, h.Name)
	if err := rotateEvents(cfg.EventLog); err != nil {
		return err
	}
	// What a DC checks NTLM against: the users' NT hashes (ntlm-fallback).
	cfg.NTLMUsers = filepath.Join(h.Dir, "ntlm_users")
	if err := backend.WriteNTLMUsers(cfg.NTLMUsers, d.UserPasswords()); err != nil {
		return fmt.Errorf("give %s its ntlm_users: %w", h.Name, err)
	}
	if h.TLS {
		if cfg.TLSCert, cfg.TLSKey, err = f.hostCert(h.Name); err != nil {
			return err
		}
	}
	if f.Config.LB.ProxyProtocol != "" {
		cfg.ProxyProtocol.Trusted = []string{lbSourceAddr}
	}
	return h.writeConfig(cfg)
}

// hostCert is the certificate host name serves. In passthrough it is the
// FQDN's, the one clients see. In reencrypt each host has its own, from
// the lab CA, as the servers behind a re-encrypting ADC usually do: the
// LB verifies it, and a client's channel binding (to the LB's
// certificate) does not match it (extended-protection-offload). A
// certificate the user gave (lb.cert) is served everywhere.
func (f *Farm) hostCert(name string) (cert, key string, err error) {
	if f.Config.LB.Mode != lb.ModeReencrypt || f.Config.LB.Cert != "" {
		return f.certFile(), f.keyFile(), nil
	}
	cert = filepath.Join(f.Dir, "tls", name+".pem")
	key = filepath.Join(f.Dir, "tls", name+"-key.pem")
	names := []string{f.Config.FQDN, name, "localhost", "127.0.0.1"}
	if err := f.ca.Issue(names, cert, key); err != nil {
		return "", "", fmt.Errorf("certificate for %s: %w", name, err)
	}
	return cert, key, nil
}

// exe is the program run for each host: Config.Exe, or this executable.
func (f *Farm) exe() (string, error) {
	if f.Config.Exe != "" {
		return f.Config.Exe, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the krbfarm executable for the hosts: %w (set Config.Exe)", err)
	}
	return exe, nil
}

// startLB runs the load balancer in this process, in front of the hosts.
func (f *Farm) startLB(ctx context.Context, _ *kdc.Tools) error {
	cfg := f.lbConfig()
	var tc *tls.Config
	if cfg.Mode != lb.ModePassthrough {
		cert, err := tlsterm.LoadKeyPair(f.certFile(), f.keyFile())
		if err != nil {
			return err
		}
		tc = tlsterm.ServerConfig(cert)
	}
	log, err := f.lbLogger()
	if err != nil {
		return err
	}
	srv, err := lb.New(cfg, tc, log)
	if err != nil {
		return err
	}
	ln, err := lb.Listen(ctx, cfg.Listen)
	if err != nil {
		return &PortInUseError{Addr: cfg.Listen, What: "load balancer", Field: "lb.listen", Free: "127.0.0.1:0", Err: err}
	}
	admin, err := net.Listen("tcp", "127.0.0.1:0") // loopback only: /status shows the farm's layout
	if err != nil {
		ln.Close()
		return fmt.Errorf("load balancer admin: %w", err)
	}
	f.LB, f.lbAdmin = srv, admin.Addr().String()
	f.lbDone = make(chan error, 1)
	ctx, f.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go func() { f.lbDone <- srv.Serve(ctx, ln) }()
	go srv.ServeAdmin(ctx, admin) // ends when the LB closes
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	f.URL = fmt.Sprintf("https://%s:%s/", f.Config.FQDN, port)
	return nil
}

// lbLogPath is where the LB logs, as JSON lines: DIR/logs/lb.log.
func (f *Farm) lbLogPath() string {
	if f.Dir == "" {
		return ""
	}
	return filepath.Join(f.Dir, "logs", "lb.log")
}

// lbLogger is the LB's logger: every line at info and above goes to
// lbLogPath (truncated per farm), and to the lab's logger too.
func (f *Farm) lbLogger() (*zap.Logger, error) {
	file, err := os.OpenFile(f.lbLogPath(), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("load balancer log: %w", err)
	}
	f.lbLog = file
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	core := zapcore.NewCore(enc, zapcore.AddSync(file), zap.InfoLevel)
	return zap.New(zapcore.NewTee(core, f.log.Named("lb").Core())).Named("lb"), nil
}

// rotateEvents moves a host's events from an earlier farm in this state
// dir to EVENTS.1, so that the events file holds this run's only.
func rotateEvents(path string) error {
	err := os.Rename(path, path+".1")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("rotate %s: %w", path, err)
	}
	return nil
}

// lbSourceAddr is the address the LB's connections to the hosts come
// from (the kernel picks 127.0.0.1 for loopback): what hosts trust when
// lb.proxy_protocol is on.
const lbSourceAddr = "127.0.0.1/32"

// lab health checks: fast enough that a host whose pool stops is out of
// rotation within about a second.
const (
	labHealthInterval = 300 * time.Millisecond
	labHealthFall     = 2
)

// lbConfig is the LB's configuration for this farm: the hosts, the mode,
// PROXY headers, health checks, and in reencrypt the lab CA to verify the
// hosts' certificates (issued for the FQDN) against.
func (f *Farm) lbConfig() lb.Config {
	c := f.Config.LB
	cfg := lb.Config{Listen: c.Listen, Mode: c.Mode, ProxyProtocol: c.ProxyProtocol,
		Health: lb.Health{Type: c.Health, Interval: labHealthInterval, Fall: labHealthFall}}
	for _, h := range f.Hosts {
		cfg.Backends = append(cfg.Backends, lb.Backend{Name: h.Name, Addr: h.Addr})
	}
	if cfg.Mode == lb.ModeReencrypt {
		cfg.BackendCA, cfg.BackendServerName = f.CAFile, f.Config.FQDN
	}
	return cfg
}

// LBAddr is the address the load balancer listens on.
func (f *Farm) LBAddr() string {
	u := strings.TrimSuffix(strings.TrimPrefix(f.URL, "https://"), "/")
	_, port, _ := net.SplitHostPort(u)
	host, _, _ := net.SplitHostPort(f.Config.LB.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// waitFrontDoor sends one anonymous request per host through the load
// balancer and expects the Negotiate challenge from each: the whole path,
// TLS included, answers. A host configured without the batch logon right
// answers 503 (its pool is stopped): that is expected of it.
func (f *Farm) waitFrontDoor(ctx context.Context, _ *kdc.Tools) error {
	hc, err := krbhttp.NewHTTPClient(krbhttp.Config{CAFile: f.CAFile, DialAddr: f.LBAddr(), Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	for range f.Hosts {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("front door %s: %w (with your own certificate, name its CA with lb.ca / --ca)", f.URL, err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && f.anyHostWithoutBatchRight() {
			continue
		}
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate") {
			return fmt.Errorf("front door %s answered %s, want 401 with WWW-Authenticate: Negotiate", f.URL, resp.Status)
		}
	}
	return nil
}

// anyHostWithoutBatchRight reports whether a host is configured without the
// batch logon right, so that a 503 at start-up is expected.
func (f *Farm) anyHostWithoutBatchRight() bool {
	for _, b := range f.Config.Backends {
		if !b.IIS.BatchRight() {
			return true
		}
	}
	return false
}
