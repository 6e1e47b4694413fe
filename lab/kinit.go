package lab

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
)

// KinitResult says what Kinit put in the credential cache.
type KinitResult struct {
	Principal string    // user@REALM
	Cache     string    // the cache file written
	Expires   time.Time // the TGT's end time
	// Service is the service ticket also cached ("" when the user's
	// tickets carry no groups: MIT's GSSAPI gets its own from the KDC).
	Service     string
	Groups      int // group SIDs the service ticket carries
	TicketBytes int // the service ticket's size, DER
}

// DefaultCCache is the credential cache the farm's krb5.conf names
// (default_ccache_name), used when KRB5CCNAME is not set.
func (a *Admin) DefaultCCache() string {
	return "FILE:" + filepath.Join(filepath.Dir(a.Info.Krb5Conf), "ccache")
}

// Kinit logs user in ("" = the farm's first user) with the password the
// directory holds, as MIT kinit does, and writes the TGT to the credential
// cache at path ("" = DefaultCCache). A user in groups (AddUser) also gets
// the site's service ticket carrying the groups' SIDs, issued by the real
// KDC (see bigticket.go); MIT's GSSAPI finds it in the cache, so curl
// --negotiate and browsers send the same big token a Windows client would.
func (a *Admin) Kinit(ctx context.Context, user, path string) (KinitResult, error) {
	if path == "" {
		path = a.DefaultCCache()
	}
	name, password, groups, err := a.credentials(user)
	if err != nil {
		return KinitResult{}, err
	}
	kc, err := krbconfig.Load(a.Info.Krb5Conf)
	if err != nil {
		return KinitResult{}, fmt.Errorf("load %s: %w", a.Info.Krb5Conf, err)
	}
	cl := krbclient.NewWithPassword(name, a.Info.Realm, password, kc, krbclient.DisablePAFXFAST(true))
	defer cl.Destroy()
	asRep, err := loginTGT(cl)
	if err != nil {
		return KinitResult{}, fmt.Errorf("kerberos login as %s@%s: %w", name, a.Info.Realm, err)
	}
	cname, realm := cl.Credentials.CName(), a.Info.Realm
	tgt, err := credFromReply(cname, realm, asRep.Ticket, asRep.DecryptedEncPart)
	if err != nil {
		return KinitResult{}, err
	}
	res := KinitResult{Principal: name + "@" + realm, Cache: strings.TrimPrefix(path, "FILE:"),
		Expires: asRep.DecryptedEncPart.EndTime, Groups: groups}
	creds := []ccacheCred{tgt}
	if groups > 0 {
		rep, err := groupsTicket(cl, asRep, a.Info.SPN, groups)
		if err != nil {
			return KinitResult{}, fmt.Errorf("service ticket for %s with %d groups: %w", a.Info.SPN, groups, err)
		}
		svc, err := credFromReply(cname, realm, rep.Ticket, rep.DecryptedEncPart)
		if err != nil {
			return KinitResult{}, err
		}
		creds = append(creds, svc)
		res.Service, res.TicketBytes = a.Info.SPN, len(svc.ticket)
	}
	return res, writeCCache(path, cname, realm, creds)
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
	if acct == nil || acct.Kind != KindUser {
		return "", "", 0, &NoAccountError{Name: user}
	}
	return acct.Name, acct.Password, acct.Groups, nil
}
