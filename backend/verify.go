package backend

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Identity is who a valid AP-REQ authenticated, and with what key.
type Identity struct {
	User      string    `json:"user"`      // client principal, e.g. "alice@KRBFARM.LOCALHOST"
	SPN       string    `json:"spn"`       // service principal of the ticket, without realm
	Realm     string    `json:"realm"`     // service realm
	KVNO      int       `json:"kvno"`      // key version that decrypted the ticket
	EncType   string    `json:"enctype"`   // e.g. "aes256-cts-hmac-sha1-96"
	Mechanism string    `json:"mechanism"` // "Kerberos", or "NTLM" after an NTLM handshake
	Remote    string    `json:"remote"`    // peer address as given to Verify
	AuthTime  time.Time `json:"auth_time"` // when the client authenticated to the KDC
	EndTime   time.Time `json:"end_time"`  // ticket expiry
	// Binding says how Extended Protection bound the token: BindingChannel,
	// BindingService, or "" (not checked, or no bindings under Allow).
	Binding string `json:"binding,omitempty"`
}

// Verifier checks Negotiate tokens against a keytab held in memory, with a
// host clock and a replay cache of its own. It is safe for concurrent use.
type Verifier struct {
	spn    *types.PrincipalName // nil: any principal in the keytab
	realm  string               // "": the ticket's realm
	skew   time.Duration
	now    func() time.Time // host clock, offset included
	keys   atomic.Pointer[keytab.Keytab]
	replay *ReplayCache
	epa    atomic.Pointer[bindingPolicy] // extendedProtection
}

// NewVerifier returns a Verifier for cfg's SPN, realm, skew, clock offset
// and replay cache size, using kt. clock is real time (nil = time.Now);
// cfg.ClockOffset is added to it.
func NewVerifier(cfg Config, kt *keytab.Keytab, clock func() time.Time) *Verifier {
	cfg = cfg.withDefaults()
	if clock == nil {
		clock = time.Now
	}
	off := cfg.ClockOffset
	v := &Verifier{
		realm:  cfg.Realm,
		skew:   cfg.MaxClockSkew,
		now:    func() time.Time { return clock().Add(off) },
		replay: NewReplayCache(2*cfg.MaxClockSkew, cfg.ReplayCacheSize),
	}
	if cfg.SPN != "" {
		pn, _ := types.ParseSPNString(cfg.SPN)
		v.spn = &pn
	}
	v.keys.Store(kt)
	v.SetExtendedProtection(cfg.ExtendedProtection)
	return v
}

// SetExtendedProtection replaces the extendedProtection applied to tokens
// verified from now on (e is assumed valid: Config.Validate checks it).
func (v *Verifier) SetExtendedProtection(e ExtendedProtection) {
	p := newBindingPolicy(e)
	v.epa.Store(&p)
}

// SetKeytab replaces the keytab used for tickets verified from now on.
func (v *Verifier) SetKeytab(kt *keytab.Keytab) { v.keys.Store(kt) }

// Replay returns the Verifier's replay cache.
func (v *Verifier) Replay() *ReplayCache { return v.replay }

// Verify checks an Authorization header value ("Negotiate <base64>") sent
// from remote, over plain HTTP (no TLS channel: see AcceptOn). On failure
// the error is an *AuthError.
func (v *Verifier) Verify(authHeader, remote string) (*Identity, error) {
	id, _, err := v.accept(authHeader, remote, Channel{})
	return id, err
}

// Accept is Verify plus the token the host answers with on success, as
// gss_accept_sec_context's output token: see replyToken for when there is
// one (nil: none). On a refused token the error is an *AuthError; a reply
// that cannot be built (no randomness) is another error.
func (v *Verifier) Accept(authHeader, remote string) (*Identity, []byte, error) {
	return v.AcceptOn(authHeader, remote, Channel{})
}

// AcceptOn is Accept for a token that came on ch, which Extended
// Protection (Config.ExtendedProtection) checks its bindings against.
func (v *Verifier) AcceptOn(authHeader, remote string, ch Channel) (*Identity, []byte, error) {
	id, in, err := v.accept(authHeader, remote, ch)
	if err != nil {
		return nil, nil, err
	}
	reply, err := in.replyToken()
	if err != nil {
		return nil, nil, fmt.Errorf("reply to %s: %w", id.User, err)
	}
	return id, reply, nil
}

func (v *Verifier) accept(authHeader, remote string, ch Channel) (*Identity, *gssInput, error) {
	tok, err := decodeHeader(authHeader)
	if err != nil {
		return nil, nil, err
	}
	in, err := parseAPReq(tok)
	if err != nil {
		return nil, nil, err
	}
	id, err := v.verifyAPReq(in.req, remote, ch)
	if err != nil {
		return nil, nil, err
	}
	return id, in, nil
}

// verifyAPReq follows MIT's krb5_rd_req order: server name, key, ticket
// decryption, authenticator, clock skew, ticket times, then Extended
// Protection (MIT checks bindings after krb5_rd_req; here before the
// replay cache, so that a token refused for its channel is not remembered
// and its rightful channel can still use it), then the replay cache.
func (v *Verifier) verifyAPReq(req *messages.APReq, remote string, ch Channel) (id *Identity, err error) {
	defer func() {
		if p := recover(); p != nil {
			id, err = nil, malformed("AP-REQ could not be processed (panic: %v)", p)
		}
	}()
	if err := v.checkServer(&req.Ticket); err != nil {
		return nil, err
	}
	kvno, err := v.decryptTicket(&req.Ticket)
	if err != nil {
		return nil, err
	}
	// From here the ticket is decrypted: refusals name its client (4625).
	e := &req.Ticket.DecryptedEncPart
	user := principalString(e.CName.NameString, e.CRealm)
	if err := decryptAuthenticator(req); err != nil {
		return nil, withUser(err, user)
	}
	now := v.now()
	if err := v.checkTimes(req, now); err != nil {
		return nil, withUser(err, user)
	}
	binding, err := v.epa.Load().check(req, ch)
	if err != nil {
		return nil, withUser(err, user)
	}
	a := &req.Authenticator
	client := principalString(a.CName.NameString, a.CRealm)
	spn := principalString(req.Ticket.SName.NameString, req.Ticket.Realm)
	if err := v.replayCheck(client, spn, a, now); err != nil {
		return nil, withUser(err, user)
	}
	id = newIdentity(req, user, kvno, remote)
	id.Binding = binding
	return id, nil
}

// replayCheck records the authenticator in the replay cache, refusing a
// replay (KRB_AP_ERR_REPEAT) and, when the cache is full of unexpired
// authenticators, any new one (REPLAY_CACHE_FULL): failing closed.
func (v *Verifier) replayCheck(client, spn string, a *types.Authenticator, now time.Time) *AuthError {
	switch err := v.replay.Record(makeReplayKey(client, a.CTime, a.Cusec, spn), now); {
	case errors.Is(err, ErrReplay):
		return krbErr(errorcode.KRB_AP_ERR_REPEAT, "authenticator from %s at %s already seen by this host (replay)", client, a.CTime.UTC().Format(time.RFC3339))
	case errors.Is(err, ErrReplayCacheFull):
		return &AuthError{Name: ReasonReplayCacheFull, Detail: fmt.Sprintf("authenticator from %s refused: the replay cache holds its maximum of %d unexpired authenticators (replay_cache_size); they expire after %v", client, v.replay.max, v.replay.ttl)}
	}
	return nil
}

// newIdentity is who req authenticated; user is its ticket's client.
func newIdentity(req *messages.APReq, user string, kvno int, remote string) *Identity {
	t := &req.Ticket
	return &Identity{
		User:      user,
		SPN:       t.SName.PrincipalNameString(),
		Realm:     t.Realm,
		KVNO:      kvno,
		EncType:   etypeName(t.EncPart.EType),
		Mechanism: mechKerberos,
		Remote:    remote,
		AuthTime:  t.DecryptedEncPart.AuthTime,
		EndTime:   t.DecryptedEncPart.EndTime,
	}
}

// checkServer refuses tickets for another SPN or realm (KRB_AP_ERR_NOT_US).
func (v *Verifier) checkServer(t *messages.Ticket) error {
	if v.spn != nil && !sameName(v.spn.NameString, t.SName.NameString) {
		return krbErr(errorcode.KRB_AP_ERR_NOT_US, "ticket is for %s, this host serves %s: the client used another name for the site",
			principalString(t.SName.NameString, t.Realm), v.spn.PrincipalNameString())
	}
	if v.realm != "" && t.Realm != v.realm {
		return krbErr(errorcode.KRB_AP_ERR_NOT_US, "ticket is for realm %s, this host serves realm %s", t.Realm, v.realm)
	}
	return nil
}

// decryptTicket finds the key and decrypts the ticket's encrypted part. An
// integrity failure means the ticket was encrypted with another key than
// the keytab's for the same kvno and enctype: KRB_AP_ERR_MODIFIED.
func (v *Verifier) decryptTicket(t *messages.Ticket) (int, error) {
	key, kvno, err := findKey(v.keys.Load(), t.SName, t.Realm, t.EncPart.KVNO, t.EncPart.EType)
	if err != nil {
		return 0, err
	}
	plain, err := decryptEncPart(t.EncPart, key, keyusage.KDC_REP_TICKET)
	if err != nil {
		return 0, krbErr(errorcode.KRB_AP_ERR_MODIFIED,
			"ticket for %s did not decrypt with keytab kvno %d %s (%v): the KDC used another key (password changed without a new keytab, or the SPN is on another account)",
			principalString(t.SName.NameString, t.Realm), kvno, etypeName(t.EncPart.EType), err)
	}
	if err := decodeEncTicketPart(plain, &t.DecryptedEncPart); err != nil {
		return 0, malformed("decrypted ticket part does not decode: %v", err)
	}
	return kvno, nil
}

// decryptAuthenticator decrypts the authenticator with the ticket's
// session key and checks it names the ticket's client.
func decryptAuthenticator(req *messages.APReq) error {
	if err := decryptAuthenticatorPart(req); err != nil {
		return krbErr(errorcode.KRB_AP_ERR_BAD_INTEGRITY, "authenticator did not decrypt with the ticket's session key: %v", err)
	}
	a, e := &req.Authenticator, &req.Ticket.DecryptedEncPart
	if !sameName(a.CName.NameString, e.CName.NameString) || a.CRealm != e.CRealm {
		return krbErr(errorcode.KRB_AP_ERR_BADMATCH, "authenticator client %s does not match ticket client %s",
			principalString(a.CName.NameString, a.CRealm), principalString(e.CName.NameString, e.CRealm))
	}
	return nil
}

// decryptAuthenticatorPart is messages.APReq.DecryptAuthenticator with
// this package's decryption.
func decryptAuthenticatorPart(req *messages.APReq) error {
	b, err := decryptEncPart(req.EncryptedAuthenticator, req.Ticket.DecryptedEncPart.Key, authenticatorUsage(req.Ticket.SName))
	if err != nil {
		return fmt.Errorf("error decrypting authenticator: %v", err)
	}
	if err := decodeAuthenticator(b, &req.Authenticator); err != nil {
		return fmt.Errorf("error unmarshaling authenticator: %v", err)
	}
	return nil
}

// checkTimes checks the authenticator against the host clock (SKEW), then
// the ticket's validity period (TKT_NYV, TKT_EXPIRED), each with skew.
func (v *Verifier) checkTimes(req *messages.APReq, now time.Time) error {
	a, e := &req.Authenticator, &req.Ticket.DecryptedEncPart
	ct := a.CTime.Add(time.Duration(a.Cusec) * time.Microsecond)
	if d := now.Sub(ct); d > v.skew || -d > v.skew {
		return krbErr(errorcode.KRB_AP_ERR_SKEW, "Clock skew too great: client time %s, host time %s (off by %s, max %s): fix NTP on the client or this host",
			ct.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), d.Round(time.Second), v.skew)
	}
	start := e.StartTime
	if start.IsZero() {
		start = e.AuthTime
	}
	if start.Sub(now) > v.skew || types.IsFlagSet(&e.Flags, flags.Invalid) {
		return krbErr(errorcode.KRB_AP_ERR_TKT_NYV, "ticket not yet valid: starts %s, host time %s", start.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if now.Sub(e.EndTime) > v.skew {
		return krbErr(errorcode.KRB_AP_ERR_TKT_EXPIRED, "ticket expired at %s, host time %s: the client must get a new ticket (kvno / kinit)", e.EndTime.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	return nil
}
