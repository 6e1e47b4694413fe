package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lb"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// Farm is a running farm: realm and KDC, hosts, and the load balancer.
type Farm struct {
	Config Config     // with every default resolved
	Dir    string     // the state directory
	Realm  *kdc.Realm // the KDC
	Hosts  []*Host    // the backends, in Config.Backends order
	LB     *lb.Server
	URL    string // the front door, https://<FQDN>:<port>/
	CAFile string // the lab CA's certificate (PEM)

	ca        *tlsterm.CA
	log       *zap.Logger
	progress  func(step string, took time.Duration)
	onExit    func(ChildExit)
	keepDir   bool
	lock      *os.File
	lbDone    chan error
	lbAdmin   string   // the LB's admin address (/status, /metrics)
	lbLog     *os.File // the LB's log file, closed by Close
	dashboard string   // the dashboard's URL (SetDashboard)
	scenario  string   // WithScenario; recorded in farm.json
	ready     bool     // farm.json's "ready"
	cancel    context.CancelFunc
	// theirUsers are the users that were in the user's KDC before the
	// farm started (Config.Kadmin): Close leaves them there.
	theirUsers []string
	once       sync.Once
	closeErr   error
	infoMu     sync.Mutex // farm.json's writes, and what they read that changes
	infoLive   bool       // farm.json is the farm's: written at the end of Start, until Close
}

// Option changes how Start runs.
type Option func(*Farm)

// WithLogger sends the lab's own log lines to log (nil = none).
func WithLogger(log *zap.Logger) Option {
	return func(f *Farm) {
		if log != nil {
			f.log = log
		}
	}
}

// WithProgress calls fn after each step of start-up, with its duration.
func WithProgress(fn func(step string, took time.Duration)) Option {
	return func(f *Farm) { f.progress = fn }
}

// Start provisions and runs a farm. On error, everything it started is
// stopped again. Close stops the farm.
func Start(ctx context.Context, cfg Config, opts ...Option) (*Farm, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f := &Farm{Config: cfg, log: zap.NewNop(), progress: func(string, time.Duration) {}}
	f.onExit = f.logChildExit
	for _, o := range opts {
		o(f)
	}
	if err := f.start(ctx); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (f *Farm) start(ctx context.Context) error {
	var t *kdc.Tools
	if f.Config.KDC == "" { // a KDC of the user's needs no krb5 program here
		var err error
		if t, err = findTools(f.Config.KrbPath); err != nil {
			return err
		}
	}
	if err := f.prepareDir(); err != nil {
		return err
	}
	type step struct {
		name string
		fn   func(context.Context, *kdc.Tools) error
	}
	steps := []step{
		{"realm " + f.Config.Realm + " provisioned", f.provision},
		{"KDC started", f.startKDC},
	}
	switch {
	case f.Config.Kadmin != "":
		steps = []step{{"your KDC " + f.Config.KDC + " answers, kadmind " + f.Config.Kadmin + " made " + f.Config.SPN(), f.useKadminKDC}}
	case f.Config.KDC != "":
		steps = []step{{"your KDC " + f.Config.KDC + " answers, keytab holds " + f.Config.SPN(), f.useExternalKDC}}
	}
	steps = append(steps, []step{
		{"certificates ready", f.makeCerts},
		{"hosts started", f.startHosts},
		{"load balancer serving", f.startLB},
		{"farm answers through the load balancer", f.waitFrontDoor},
	}...)
	for _, s := range steps {
		begin := time.Now()
		if err := s.fn(ctx, t); err != nil {
			return err
		}
		f.progress(s.name, time.Since(begin))
	}
	f.infoMu.Lock()
	defer f.infoMu.Unlock()
	f.ready = f.scenario == ""
	f.infoLive = true
	return f.writeInfoLocked()
}

// findTools is kdc.FindTools for the lab's server programs; a
// *kdc.MissingToolsError names krb_path, the field (Config.KrbPath) that
// sets where to look.
func findTools(path string) (*kdc.Tools, error) {
	t, err := kdc.FindTools(path, false)
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		missing.Field = "krb_path"
	}
	return t, err
}

// prepareDir creates the state directory, or a temporary one, checks that
// no other user can change it (SecureStateDir), and locks it so that two
// farms never share one.
func (f *Farm) prepareDir() error {
	f.keepDir = f.Config.StateDir != ""
	if !f.keepDir {
		d, err := os.MkdirTemp("", "krbfarm-")
		if err != nil {
			return err
		}
		f.Config.StateDir = d
	}
	if err := os.MkdirAll(f.Config.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	dir, err := SecureStateDir(f.Config.StateDir)
	if err != nil {
		return err
	}
	f.Dir = dir
	for _, sub := range []string{"logs", "hosts", "tls"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
	}
	f.lock, err = lockDir(dir)
	return err
}

// provision creates the realm, its users, and the directory (service and
// machine accounts, SPNs) that the KDC and host keytabs follow.
func (f *Farm) provision(ctx context.Context, t *kdc.Tools) error {
	port, err := kdcPort(f.Config.KDCPort)
	if err != nil {
		return err
	}
	f.Realm = &kdc.Realm{Name: f.Config.Realm, Dir: filepath.Join(f.Dir, "kdc"), Domain: f.Config.domain(), Port: port, Tools: t}
	if err := kdc.Provision(ctx, f.Realm, directory.RandomPassword()); err != nil {
		return err
	}
	for _, u := range f.Config.Users {
		if err := f.Realm.AddPrincipal(ctx, u.Name, u.Password); err != nil {
			return err
		}
	}
	d := directory.New(f.Config.seed())
	if err := d.Save(f.Dir); err != nil {
		return err
	}
	// Each SPN's key derives from its holder's password, as the key AD
	// issues tickets with derives from the account's password.
	return directory.SyncKDC(ctx, f.Realm, d)
}

func (f *Farm) startKDC(ctx context.Context, _ *kdc.Tools) error {
	if err := f.Realm.Start(ctx); err != nil {
		return err
	}
	f.watchKDC()
	return nil
}

// kdcPort returns the port asked for after checking it is free, or a free
// one. The KDC binds TCP and UDP, so both are checked.
func kdcPort(want int) (int, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", want)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, &PortInUseError{Addr: addr, What: "KDC", Field: "kdc_port", Free: "0", Err: err}
	}
	port := ln.Addr().(*net.TCPAddr).Port
	defer ln.Close()
	pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		if want == 0 {
			return kdcPort(0) // rare: the UDP side of a free TCP port is taken
		}
		return 0, &PortInUseError{Addr: addr, What: "KDC (UDP)", Field: "kdc_port", Free: "0", Err: err}
	}
	pc.Close()
	return port, nil
}

// PortInUseError names an address that could not be bound and the config
// field that picks another.
type PortInUseError struct {
	Addr, What string
	Field      string // YAML path of the field that sets it: kdc_port, lb.listen
	Free       string // the field's value for a free port: 0, 127.0.0.1:0
	Err        error
}

func (e *PortInUseError) Error() string {
	return fmt.Sprintf("%s address %s is not available (%v): pick another with %s, or %s for a free port", e.What, e.Addr, e.Err, e.Field, e.Free)
}

// Rename returns the same error naming the field as name(Field) does, e.g.
// the flag that set it.
func (e *PortInUseError) Rename(name func(field string) string) error {
	c := *e
	c.Field = name(e.Field)
	return &c
}

func (e *PortInUseError) Unwrap() error { return e.Err }

// Close stops every process the farm started, and removes the state
// directory only if Start made it. Safe to call more than once.
func (f *Farm) Close() error {
	f.once.Do(func() { f.closeErr = f.close() })
	return f.closeErr
}

func (f *Farm) close() error {
	f.infoMu.Lock()
	f.infoLive = false // hosts stopping from here on leave farm.json alone
	f.infoMu.Unlock()
	var errs []error
	if f.LB != nil {
		errs = append(errs, f.LB.Close())
		if f.lbDone != nil {
			<-f.lbDone
		}
	}
	if f.lbLog != nil {
		f.lbLog.Close()
	}
	var wg sync.WaitGroup
	for _, h := range f.Hosts {
		wg.Add(1)
		go func() { defer wg.Done(); h.Stop() }()
	}
	wg.Wait()
	if f.Realm != nil {
		errs = append(errs, f.Realm.Stop(), f.cleanKadminKDC())
	}
	if f.cancel != nil {
		f.cancel()
	}
	if f.lock != nil {
		os.Remove(filepath.Join(f.Dir, "farm.json"))
		f.lock.Close()
	}
	if !f.keepDir && f.Dir != "" {
		errs = append(errs, os.RemoveAll(f.Dir))
	}
	return errors.Join(errs...)
}

// Host returns the host called name, or nil.
func (f *Farm) Host(name string) *Host {
	for _, h := range f.Hosts {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// PIDs lists the processes the farm runs: the KDC and every live host.
func (f *Farm) PIDs() []int {
	var pids []int
	if f.Realm != nil && f.Realm.PID() != 0 {
		pids = append(pids, f.Realm.PID())
	}
	for _, h := range f.Hosts {
		if p := h.PID(); p != 0 {
			pids = append(pids, p)
		}
	}
	return pids
}
