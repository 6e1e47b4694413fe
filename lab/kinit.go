package lab

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// DefaultCCache is the credential cache the farm's krb5.conf names
// (default_ccache_name), used when KRB5CCNAME is not set.
func (a *Admin) DefaultCCache() string {
	return "FILE:" + filepath.Join(filepath.Dir(a.Info.Krb5Conf), "ccache")
}

// Kinit logs user in ("" = the farm's first user) with the password the
// directory holds, as MIT kinit does, and writes the TGT to the credential
// cache at path ("" = DefaultCCache). A user in groups (AddUser) also gets
// the site's service ticket carrying the groups' SIDs (krbhttp.Kinit).
func (a *Admin) Kinit(ctx context.Context, user, path string) (krbhttp.KinitResult, error) {
	name, password, groups, err := a.credentials(user)
	if err != nil {
		return krbhttp.KinitResult{}, err
	}
	cfg := krbhttp.Config{Krb5Conf: a.Info.Krb5Conf, Realm: a.Info.Realm, User: name, Password: password,
		Groups: groups, SPN: a.Info.SPN}
	return krbhttp.Kinit(cfg, cmp.Or(path, a.DefaultCCache()))
}

// credentials are user's name, password and groups from the directory.
func (a *Admin) credentials(user string) (name, password string, groups int, err error) {
	if user == "" {
		if len(a.Info.Users) == 0 {
			return "", "", 0, fmt.Errorf("farm.json lists no user")
		}
		user, _, _ = strings.Cut(a.Info.Users[0].Principal, "@")
	}
	d, err := a.Directory()
	if err != nil {
		return "", "", 0, err
	}
	acct := d.Account(user)
	if acct == nil {
		password, err = a.outsideCredentials(user)
		return user, password, 0, err
	}
	if acct.Kind != directory.KindUser {
		return "", "", 0, &directory.NoAccountError{Name: user}
	}
	return acct.Name, acct.Password, acct.Groups, nil
}
