package lab

import (
	"context"
	"fmt"
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
