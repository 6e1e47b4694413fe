package krbhttp

import (
	"fmt"
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

// Kinit logs cfg.User in with cfg.Password, as MIT kinit does, and
// writes the TGT to the credential cache at path (FILE: prefix optional).
// A user in groups (cfg.Groups > 0) also gets a ticket for cfg.SPN
// carrying the groups' SIDs, issued by the real KDC (see bigticket.go);
// MIT's GSSAPI finds it in the cache, so curl --negotiate and browsers
// send the same big token a Windows client would. cfg's HTTP fields are
// ignored.
func Kinit(cfg Config, path string) (KinitResult, error) {
	kc, err := krbconfig.Load(cfg.Krb5Conf)
	if err != nil {
		return KinitResult{}, fmt.Errorf("load %s: %w", cfg.Krb5Conf, err)
	}
	cl := krbclient.NewWithPassword(cfg.User, cfg.Realm, cfg.Password, kc, krbclient.DisablePAFXFAST(true))
	defer cl.Destroy()
	asRep, err := loginTGT(cl)
	if err != nil {
		return KinitResult{}, fmt.Errorf("kerberos login as %s@%s: %w", cfg.User, cfg.Realm, kerberosError(err))
	}
	cname, realm := cl.Credentials.CName(), cfg.Realm
	tgt, err := credFromReply(cname, realm, asRep.Ticket, asRep.DecryptedEncPart)
	if err != nil {
		return KinitResult{}, err
	}
	res := KinitResult{Principal: cfg.User + "@" + realm, Cache: strings.TrimPrefix(path, "FILE:"),
		Expires: asRep.DecryptedEncPart.EndTime, Groups: cfg.Groups}
	creds := []ccacheCred{tgt}
	if cfg.Groups > 0 {
		rep, err := groupsTicket(cl, asRep, cfg.SPN, cfg.Groups)
		if err != nil {
			return KinitResult{}, fmt.Errorf("service ticket for %s with %d groups: %w", cfg.SPN, cfg.Groups, kerberosError(err))
		}
		svc, err := credFromReply(cname, realm, rep.Ticket, rep.DecryptedEncPart)
		if err != nil {
			return KinitResult{}, err
		}
		creds = append(creds, svc)
		res.Service, res.TicketBytes = cfg.SPN, len(svc.ticket)
	}
	return res, writeCCache(path, cname, realm, creds)
}
