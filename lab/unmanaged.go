package lab

import (
	"context"
	"strings"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// Unmanaged lists the KDC's principals the lab did not create (made with
// kadmin by whoever shares the KDC), without @REALM. The lab never changes
// or deletes them; `krbfarm kinit` and `doctor --user` log in as them with
// Admin.Password.
//
// On a KDC the lab does not administer (Config.KDC without Kadmin) it
// cannot list them, and returns none.
func (a *Admin) Unmanaged(ctx context.Context) ([]string, error) {
	if a.Info.ExternalKDC && a.Info.Kadmin == "" {
		return nil, nil
	}
	d, err := a.Directory()
	if err != nil {
		return nil, err
	}
	owned, err := directory.Owned(a.realm)
	if err != nil {
		return nil, err
	}
	have, err := a.realm.Principals(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range have {
		_, mine := owned[p]
		if acct := d.Account(p); acct != nil && acct.Kind == directory.KindUser && !strings.Contains(p, "/") {
			mine = true
		}
		if !mine && !kdc.SystemPrincipal(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// outsideCredentials is the password for user when the directory does not
// hold it: Admin.Password, if set.
func (a *Admin) outsideCredentials(user string) (string, error) {
	if a.Password == "" {
		return "", &directory.NoAccountError{Name: user, Outside: true}
	}
	return a.Password, nil
}
