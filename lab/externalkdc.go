package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// NoKadminError is a change to the directory (an SPN, an account, a key)
// asked of a farm whose KDC the lab does not administer (Config.KDC).
type NoKadminError struct{ KDC, Realm string }

func (e *NoKadminError) Error() string {
	return fmt.Sprintf("needs --kadmin: this farm uses a KDC it does not administer (%s, realm %s): "+
		"make accounts, SPNs and keys in that KDC, export the service keytab again and restart the farm with it", e.KDC, e.Realm)
}

// useExternalKDC is the start-up step for a KDC the user runs: a client
// krb5.conf naming it, a check that it answers on TCP and that the keytab
// holds the SPN's keys, and the directory the hosts' settings come from.
// Nothing is provisioned and no krb5 server program runs.
func (f *Farm) useExternalKDC(ctx context.Context, _ *kdc.Tools) error {
	c := &f.Config
	r, err := kdc.External(c.Realm, filepath.Join(f.Dir, "kdc"), c.domain(), c.KDC, nil)
	if err != nil {
		return err
	}
	f.Realm = r
	if err := checkServiceKeytab(c.Keytab, c.SPN(), c.Realm); err != nil {
		return err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.KDC)
	if err != nil {
		return fmt.Errorf("kdc %s: %w (is your KDC listening on TCP there?)", c.KDC, err)
	}
	conn.Close()
	return directory.New(c.seed()).Save(f.Dir)
}

// checkServiceKeytab says what is wrong with a keytab that cannot decrypt
// tickets for spn@realm.
func checkServiceKeytab(path, spn, realm string) error {
	kt, err := keytab.Load(path)
	if err != nil {
		return fmt.Errorf("keytab %s: %w", path, err)
	}
	var held []string
	for _, e := range kt.Entries {
		name := strings.Join(e.Principal.Components, "/")
		if strings.EqualFold(name, spn) && e.Principal.Realm == realm {
			return nil
		}
		if h := name + "@" + e.Principal.Realm; !slices.Contains(held, h) {
			held = append(held, h)
		}
	}
	return fmt.Errorf("keytab %s holds no key for %s@%s (it holds %s): export it with kadmin ktadd -k %s %s",
		path, spn, realm, strings.Join(held, ", "), path, spn)
}

// copyServiceKeytab gives a host a copy (0600) of the user's keytab.
func copyServiceKeytab(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("keytab: %w", err)
	}
	return fsutil.WriteAtomic(dst, b, 0o600)
}

// refuseExternal returns *NoKadminError for a farm on a KDC the lab does
// not administer, and says so for one whose admin password is missing.
func (a *Admin) refuseExternal() error {
	if !a.Info.ExternalKDC {
		return nil
	}
	if a.Info.Kadmin == "" {
		return &NoKadminError{KDC: a.Info.KDC, Realm: a.Info.Realm}
	}
	if k, ok := a.realm.Admin.(*kdc.RemoteKadmin); !ok || k.Password == "" {
		return fmt.Errorf("kadmin %s as %s: export %s with its password", a.Info.Kadmin, a.Info.Admin, AdminPasswordEnv)
	}
	return nil
}

// A farm on a KDC the user runs, with admin rights (Config.Kadmin): the lab
// runs no krb5kdc, kadmin.local or kdb5_util, and makes what it needs in
// that KDC through kadmind with MIT's remote kadmin client, as Admin.
//
// Keys: every principal the lab makes gets keys from a password the lab
// chose (addprinc -pw, cpw -pw, at the directory's kvno), so the hosts'
// keytabs are derived from those passwords as on the lab's own KDC; no
// ktadd runs (remote ktadd would re-randomise keys, and needs more rights).
//
// Rollback: there is no database dump. A failed Update deletes what it
// added (delprinc for addprinc) and re-applies the directory as it was
// before, which gives re-keyed principals their old keys back, as they
// derive from the old passwords at the old kvno. What cannot be put back
// is a user's own password change over kadmin (cpw adds 1 to the kvno):
// it gets its old password at the new kvno. SyncKDC validates everything
// before the first request and adds and re-keys before it deletes, so a
// failure midway leaves no principal missing.
//
// Close deletes every principal the farm made there (synced.json and the
// users it created), leaving the KDC as it found it.

// useKadminKDC is the start-up step for a KDC the user runs with admin
// rights: its KDC answers, kadmind accepts Admin, and the missing users,
// the service account, SPNs and machine accounts are made there.
func (f *Farm) useKadminKDC(ctx context.Context, _ *kdc.Tools) error {
	c := &f.Config
	prog, err := kdc.FindKadminClient(c.KrbPath)
	if err != nil {
		return err
	}
	r, err := kdc.External(c.Realm, filepath.Join(f.Dir, "kdc"), c.domain(), c.KDC, c.remoteKadmin(prog))
	if err != nil {
		return err
	}
	f.Realm = r
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", c.KDC)
	if err != nil {
		return fmt.Errorf("kdc %s: %w (is your KDC listening on TCP there?)", c.KDC, err)
	}
	conn.Close()
	have, err := r.Principals(ctx)
	if err != nil {
		return fmt.Errorf("kadmin %s as %s: %w (is kadmind listening there, and does kadm5.acl give %s the rights?)", c.Kadmin, c.Admin, err, c.Admin)
	}
	f.theirUsers = nil
	for _, u := range c.Users {
		if slices.Contains(have, u.Name) {
			f.theirUsers = append(f.theirUsers, u.Name) // its password must be the one configured
			continue
		}
		if err := r.AddPrincipal(ctx, u.Name, u.Password); err != nil {
			return err
		}
	}
	dir := directory.New(c.seed())
	if err := dir.Save(f.Dir); err != nil {
		return err
	}
	return directory.SyncKDC(ctx, r, dir)
}

// cleanKadminKDC deletes from a KDC the lab administers through kadmind
// every principal the farm made there; those that were there before it
// started are left alone.
func (f *Farm) cleanKadminKDC() error {
	r := f.Realm
	if r == nil || !r.IsExternal() || r.Admin == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owned, err := directory.Owned(r)
	if err != nil {
		return err
	}
	names := slices.Sorted(maps.Keys(owned))
	if d, err := directory.Load(f.Dir); err == nil { // users it made, at start or since (AddUser)
		for _, a := range d.Accounts {
			if a.Kind == directory.KindUser && !slices.Contains(f.theirUsers, a.Name) {
				names = append(names, a.Name)
			}
		}
	}
	have, err := r.Principals(ctx)
	if err != nil {
		return fmt.Errorf("clean up your KDC: %w", err)
	}
	var errs []error
	for _, n := range names {
		if slices.Contains(have, n) && !kdc.SystemPrincipal(n) {
			errs = append(errs, r.DeletePrincipal(ctx, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up your KDC (delete what krbfarm made): %w", err)
	}
	if err := os.Remove(r.SyncedPath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
