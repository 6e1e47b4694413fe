package lab

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lb"
)

// Admin changes a farm's directory and makes the KDC and the hosts follow
// at once, as a domain admin's change reaches a real domain: the KDC
// database is rewritten with kadmin.local (krb5kdc reads it per request),
// host keytabs are rewritten and each host process reloads on SIGHUP.
// It works on a farm run by this process (Farm.Admin) or by another
// (OpenAdmin on its state dir).
type Admin struct {
	Dir  string // the state dir
	FQDN string
	Info Info // the farm's description (farm.json)
	// Password is the password of a principal the directory does not hold
	// (one made with kadmin by whoever shares the KDC), for Kinit and the
	// doctor's --user; "" = none. The CLI reads it from KRBFARM_PASSWORD.
	// Never logged.
	Password string
	realm    *kdc.Realm
	hosts    []hostRef
	// lbStatus is the LB's view of the hosts when it runs in this process
	// (Farm.Admin); nil for a farm run by another process.
	lbStatus func() []lb.BackendStatus
	// setLBMode is Farm.SetLBMode when the LB runs in this process.
	setLBMode func(ctx context.Context, mode string) error
}

type hostRef struct {
	name, dir, keytab, config string
	pid                       int
}

// Admin returns an Admin for this farm.
func (f *Farm) Admin() *Admin {
	a := &Admin{Dir: f.Dir, FQDN: f.Config.FQDN, Info: f.Info(), realm: f.Realm}
	if f.LB != nil {
		a.lbStatus = f.LB.Status
		a.setLBMode = f.SetLBMode
	}
	for _, h := range f.Hosts {
		a.hosts = append(a.hosts, hostRef{name: h.Name, dir: h.Dir, keytab: h.Keytab, config: h.Config, pid: h.PID()})
	}
	return a
}

// OpenAdmin returns an Admin for the farm running in stateDir, found by
// its farm.json. krbPath is where to find kadmin.local ("" = default), as
// Config.KrbPath (krb_path) says. For a farm on a KDC administered through
// kadmind (Info.Kadmin) the admin password is read from
// $KRBFARM_ADMIN_PASSWORD (AdminPasswordEnv).
func OpenAdmin(stateDir, krbPath string) (*Admin, error) {
	in, err := ReadInfo(stateDir)
	if err != nil {
		return nil, err
	}
	var t *kdc.Tools
	if !in.ExternalKDC { // no kadmin.local is run on a KDC of the user's
		if t, err = findTools(krbPath); err != nil {
			return nil, err
		}
	}
	// The realm's dir holds krb5.conf (and, for the lab's own, kdc.conf;
	// an external realm has none).
	r := &kdc.Realm{Name: in.Realm, Dir: filepath.Dir(in.Krb5Conf), KDCConf: in.KDCConf, Krb5Conf: in.Krb5Conf, Tools: t}
	r.LogPath = filepath.Join(r.Dir, "kdc.log")
	if in.ExternalKDC {
		r.KDCAddr = in.KDC
	}
	if in.Kadmin != "" { // the password from the environment, never from farm.json
		prog, err := kdc.FindKadminClient(krbPath)
		if err != nil {
			return nil, err
		}
		r.Admin = &kdc.RemoteKadmin{Path: prog, Addr: in.Kadmin, Principal: in.Admin, Password: os.Getenv(AdminPasswordEnv)}
	}
	a := &Admin{Dir: in.StateDir, FQDN: in.FQDN, Info: in, realm: r}
	for _, b := range in.Backends {
		dir := filepath.Dir(b.Keytab)
		a.hosts = append(a.hosts, hostRef{name: b.Name, dir: dir, keytab: b.Keytab, config: filepath.Join(dir, "backend.yaml"), pid: b.PID})
	}
	return a, nil
}

// kdc.Realm is the farm's KDC.
func (a *Admin) Realm() *kdc.Realm { return a.realm }

// directory.Directory reads the current directory.
func (a *Admin) Directory() (*directory.Directory, error) { return directory.Load(a.Dir) }

// Update changes the directory with fn under a lock and, if fn succeeds,
// makes the KDC follow, saves the directory, and makes every host follow
// before returning. fn may change the KDC itself (a user's password).
//
// The KDC database is dumped first: if fn, the KDC's sync or the save
// fails, the dump is loaded back, so the KDC and directory.json are left
// as they were. Hosts are brought in line after the save and are not
// rolled back: they derive everything from the saved directory, so the
// next Update (or keytab push) repairs one that failed to reload.
func (a *Admin) Update(ctx context.Context, fn func(*directory.Directory) error) error {
	if err := a.refuseExternal(); err != nil {
		return err
	}
	unlock, err := fsutil.Lock(filepath.Join(a.Dir, "directory.lock"))
	if err != nil {
		return err
	}
	defer unlock()
	d, err := directory.Load(a.Dir)
	if err != nil {
		return err
	}
	snap, err := a.snapshot(ctx, d)
	if err != nil {
		return err
	}
	defer snap.Discard()
	before, err := directory.Load(a.Dir)
	if err != nil {
		return err
	}
	if err := a.change(ctx, d, fn); err != nil {
		if rerr := a.rollback(ctx, snap, before, d); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return a.applyHosts(d)
}

// rollback undoes a failed change. On the lab's own KDC the snapshot holds
// the dump to load back. Through kadmind (no dump) the snapshot deletes
// what was added, then the directory as it was before is applied again:
// the users whose password changed get the old one back (at a kvno 1
// higher: cpw adds 1), and SyncKDC re-keys the other principals from the
// old passwords at the old kvno, which are their old keys.
func (a *Admin) rollback(ctx context.Context, snap *kdc.Snapshot, before, after *directory.Directory) error {
	if err := snap.Restore(ctx); err != nil || a.realm.Admin == nil {
		return err
	}
	ctx = context.WithoutCancel(ctx)
	var errs []error
	for _, old := range before.Accounts {
		now := after.Account(old.Name)
		if old.Kind == directory.KindUser && now != nil && now.Password != old.Password {
			errs = append(errs, a.realm.ChangePassword(ctx, old.Name, old.Password, nil))
		}
	}
	if err := directory.SyncKDC(ctx, a.realm, before); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("KDC rollback through kadmind: %w", err)
	}
	return nil
}

// snapshot dumps the principals the lab made (its users and those
// synced.json records), the only ones an Update may change.
func (a *Admin) snapshot(ctx context.Context, d *directory.Directory) (*kdc.Snapshot, error) {
	owned, err := directory.Owned(a.realm)
	if err != nil {
		return nil, err
	}
	names := slices.Sorted(maps.Keys(owned))
	for _, acct := range d.Accounts {
		if acct.Kind == directory.KindUser {
			names = append(names, acct.Name)
		}
	}
	return a.realm.Snapshot(ctx, names...)
}

// change runs fn on d, makes the KDC follow and saves d.
func (a *Admin) change(ctx context.Context, d *directory.Directory, fn func(*directory.Directory) error) error {
	if err := fn(d); err != nil {
		return err
	}
	if err := directory.SyncKDC(ctx, a.realm, d); err != nil {
		return err
	}
	return d.Save(a.Dir)
}

// applyHosts makes every host's keytab, users and settings match d.
func (a *Admin) applyHosts(d *directory.Directory) error {
	for _, h := range a.hosts {
		hs := d.Host(h.name)
		if hs == nil {
			continue
		}
		if err := a.applyHost(d, hs, h); err != nil {
			return err
		}
	}
	return nil
}

func (a *Admin) applyHost(d *directory.Directory, hs *directory.HostSite, h hostRef) error {
	if err := directory.WriteHostKeytab(d, hs, h.keytab); err != nil {
		return fmt.Errorf("host %s keytab: %w", h.name, err)
	}
	if err := writeHostNTLMUsers(d, h); err != nil {
		return fmt.Errorf("host %s ntlm_users: %w", h.name, err)
	}
	if err := writeHostSettings(h.config, d, hs); err != nil {
		return fmt.Errorf("host %s config: %w", h.name, err)
	}
	if h.pid == 0 {
		return nil
	}
	return reloadHost(h, 5*time.Second)
}

// writeHostSettings updates what a reload picks up in a host's
// backend.yaml: clock_offset, batchLogonRight (as the host's policy makes
// it, see Directory.BatchRight), the header limits and extendedProtection.
func writeHostSettings(path string, d *directory.Directory, hs *directory.HostSite) error {
	cfg, err := backend.LoadConfig(path)
	if err != nil {
		return err
	}
	ok, _ := d.BatchRight(hs)
	var right *bool // nil: the default, granted
	if !ok {
		right = directory.Bool(false)
	}
	same := (cfg.BatchLogonRight == nil || *cfg.BatchLogonRight) == ok &&
		cfg.MaxFieldLength == hs.IIS.MaxFieldLength && cfg.MaxRequestBytes == hs.IIS.MaxRequestBytes &&
		reflect.DeepEqual(cfg.ExtendedProtection, hs.IIS.ExtendedProtection) &&
		cfg.AuthPersistSingleRequest == hs.IIS.AuthPersistSingleRequest
	if cfg.ClockOffset == hs.ClockOffset && same {
		return nil
	}
	cfg.ClockOffset, cfg.BatchLogonRight = hs.ClockOffset, right
	cfg.MaxFieldLength, cfg.MaxRequestBytes, cfg.MaxHeaderBytes = hs.IIS.MaxFieldLength, hs.IIS.MaxRequestBytes, 0
	cfg.ExtendedProtection = hs.IIS.ExtendedProtection
	cfg.AuthPersistSingleRequest = hs.IIS.AuthPersistSingleRequest
	return (&Host{Config: path}).writeConfig(cfg)
}

// reloadHost asks a host process to reload (SIGHUP) and waits, bounded, for
// it to acknowledge the request's generation in its "reloaded" file.
func reloadHost(h hostRef, timeout time.Duration) error {
	gen := strconv.FormatInt(time.Now().UnixNano(), 10)
	if err := fsutil.WriteAtomic(filepath.Join(h.dir, "reload"), []byte(gen), 0o600); err != nil {
		return err
	}
	if err := signalHost(h.pid, h.config, syscall.SIGHUP); err != nil {
		return fmt.Errorf("host %s reload: %w", h.name, err)
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(filepath.Join(h.dir, "reloaded"))
		if strings.TrimSpace(string(b)) == gen {
			return nil
		}
		time.Sleep(2 * time.Millisecond) // polling an acknowledgement, bounded by the deadline
	}
	return fmt.Errorf("host %s (pid %d) did not acknowledge the reload within %s", h.name, h.pid, timeout)
}
