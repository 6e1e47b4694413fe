package doctor

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/credentials"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// externalKrb5Conf is the krb5.conf the external doctor uses: the realm
// and KDC from its flags only (no DNS, no /etc/krb5.conf), over TCP.
func externalKrb5Conf(realm, kdc string) (*krbconfig.Config, error) {
	const et = "aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96 arcfour-hmac"
	s := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_lookup_kdc = false
 dns_lookup_realm = false
 udp_preference_limit = 1
 default_tkt_enctypes = %[3]s
 default_tgs_enctypes = %[3]s
 permitted_enctypes = %[3]s
[realms]
 %[1]s = {
  kdc = %[2]s
 }
`, realm, kdc, et)
	return krbconfig.NewFromString(s)
}

// kdcProbe is what an AS-REQ without pre-authentication data returned:
// for a user who must pre-authenticate, a KRB-ERROR carrying the KDC's time.
type kdcProbe struct {
	Code   int32         // the KRB-ERROR code; -1 when the KDC answered with an AS-REP
	Offset time.Duration // the KDC's clock minus ours (when Code >= 0)
	RTT    time.Duration
}

// probeKDC sends one AS-REQ for user without pre-authentication over TCP,
// as the first leg of every kinit does, and reads the KDC's clock from
// the KRB-ERROR it answers with (stime, susec).
func probeKDC(ctx context.Context, cfg *krbconfig.Config, kdc, realm, user string) (kdcProbe, error) {
	p := kdcProbe{Code: -1}
	req, err := messages.NewASReqForTGT(realm, cfg, types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, user))
	if err != nil {
		return p, err
	}
	b, err := req.Marshal()
	if err != nil {
		return p, err
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", kdc)
	if err != nil {
		return p, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	t0 := time.Now()
	reply, err := kdcRoundTrip(conn, b)
	if err != nil {
		return p, err
	}
	p.RTT = time.Since(t0)
	var ke messages.KRBError
	if ke.Unmarshal(reply) == nil {
		p.Code = ke.ErrorCode
		stime := ke.STime.Add(time.Duration(ke.Susec) * time.Microsecond)
		p.Offset = stime.Sub(t0.Add(p.RTT / 2))
	}
	return p, nil
}

// kdcRoundTrip writes one Kerberos message with its 4-byte length (RFC
// 4120 7.2.2) and reads the reply, bounded to 1 MiB.
func kdcRoundTrip(conn net.Conn, b []byte) ([]byte, error) {
	msg := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := conn.Write(append(msg, b...)); err != nil {
		return nil, err
	}
	var n [4]byte
	if _, err := io.ReadFull(conn, n[:]); err != nil {
		return nil, fmt.Errorf("no reply from the KDC: %w", err)
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > 1<<20 {
		return nil, fmt.Errorf("KDC reply of %d bytes: not a KDC?", size)
	}
	reply := make([]byte, size)
	_, err := io.ReadFull(conn, reply)
	return reply, err
}

// probeError turns a probe's failure into why the doctor cannot run.
func probeError(o ExternalOptions, p kdcProbe, err error) error {
	switch {
	case err != nil:
		return &CouldNotRunError{What: fmt.Sprintf("KDC %s unreachable: %v", o.KDC, err),
			Fix: "check {KDC} (HOST:PORT of a domain controller, port 88) and that TCP to it is allowed from this box", Err: err}
	case p.Code == errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN:
		return &CouldNotRunError{What: fmt.Sprintf("the KDC does not know %s@%s (KDC_ERR_C_PRINCIPAL_UNKNOWN)", o.User, o.Realm),
			Fix: "check {User} and {Realm} (the realm is the AD domain in upper case)"}
	case p.Code == errorcode.KDC_ERR_WRONG_REALM:
		return &CouldNotRunError{What: fmt.Sprintf("the KDC at %s does not serve realm %s (KDC_ERR_WRONG_REALM)", o.KDC, o.Realm),
			Fix: "check {Realm} and {KDC}"}
	}
	return nil
}

// externalLogin gets a TGT with the password, or loads one from the
// user's ccache when there is no password.
func externalLogin(o ExternalOptions, cfg *krbconfig.Config) (*krbclient.Client, string, error) {
	if o.Password != "" {
		cl := krbclient.NewWithPassword(o.User, o.Realm, o.Password, cfg, krbclient.DisablePAFXFAST(true))
		if err := cl.Login(); err != nil {
			return nil, "", loginError(o, err)
		}
		return cl, "password (AS exchange)", nil
	}
	path := ccachePath(o.CCache)
	cc, err := credentials.LoadCCache(path)
	if err != nil {
		return nil, "", &CouldNotRunError{What: fmt.Sprintf("no password and no readable ccache at %s (%v)", path, err),
			Fix: fmt.Sprintf("set {Password}, or kinit %s@%s first", o.User, o.Realm)}
	}
	who := cc.GetClientPrincipalName().PrincipalNameString() + "@" + cc.GetClientRealm()
	if !strings.EqualFold(who, o.User+"@"+o.Realm) {
		return nil, "", &CouldNotRunError{What: fmt.Sprintf("the ccache %s holds %s, not %s@%s", path, who, o.User, o.Realm),
			Fix: fmt.Sprintf("kinit %s@%s, or set {User} to the ccache's user", o.User, o.Realm)}
	}
	cl, err := krbclient.NewFromCCache(cc, cfg, krbclient.DisablePAFXFAST(true))
	if err != nil {
		return nil, "", &CouldNotRunError{What: fmt.Sprintf("ccache %s: %v", path, err), Fix: fmt.Sprintf("kinit %s@%s", o.User, o.Realm)}
	}
	return cl, "ccache " + path, nil
}

func loginError(o ExternalOptions, err error) error {
	name := krbhttp.ErrorName(krbhttp.AsKerberosError(err))
	who := o.User + "@" + o.Realm
	fixes := map[string][2]string{
		"KDC_ERR_PREAUTH_FAILED":      {"wrong password for " + who + " (KDC_ERR_PREAUTH_FAILED)", "set the right password in the environment variable, or kinit and use the ccache"},
		"KDC_ERR_C_PRINCIPAL_UNKNOWN": {"the KDC does not know " + who + " (KDC_ERR_C_PRINCIPAL_UNKNOWN)", "check {User} and {Realm}"},
		"KDC_ERR_CLIENT_REVOKED":      {who + " is disabled or locked out (KDC_ERR_CLIENT_REVOKED)", "unlock the account (Active Directory Users and Computers) or use another"},
		"KDC_ERR_KEY_EXPIRED":         {"the password of " + who + " has expired (KDC_ERR_KEY_EXPIRED)", "change it (kpasswd) and run again"},
	}
	if f, ok := fixes[name]; ok {
		return &CouldNotRunError{What: f[0], Fix: f[1], Err: err}
	}
	return &CouldNotRunError{What: fmt.Sprintf("kerberos login as %s: %v", who, err), Fix: "check {KDC}, {Realm}, {User} and the password", Err: err}
}

// ccachePath is the MIT ccache to read: the given one, else KRB5CCNAME
// (FILE: only), else /tmp/krb5cc_<uid>.
func ccachePath(p string) string {
	if p == "" {
		p = os.Getenv("KRB5CCNAME")
	}
	p = strings.TrimPrefix(p, "FILE:")
	if p == "" {
		p = fmt.Sprintf("/tmp/krb5cc_%d", os.Getuid())
	}
	return p
}

// CouldNotRunError says why the doctor could not diagnose (exit 2) and
// what to do about it. What and Fix name ExternalOptions fields in braces,
// "{KDC}"; Error writes each as the field's name, KDC, or as Rename says.
type CouldNotRunError struct {
	What string
	Fix  string
	Err  error
	name func(field string) string // nil = the field's own name
}

func (e *CouldNotRunError) Error() string {
	return fmt.Sprintf("could not run: %s; fix: %s", e.fields(e.What), e.fields(e.Fix))
}

// Rename returns the same error naming each field as name(field) does,
// e.g. the flag that sets it.
func (e *CouldNotRunError) Rename(name func(field string) string) error {
	c := *e
	c.name = name
	return &c
}

// fields writes s with each {Field} named.
func (e *CouldNotRunError) fields(s string) string {
	return fieldRef.ReplaceAllStringFunc(s, func(ref string) string {
		f := ref[1 : len(ref)-1]
		if e.name == nil {
			return f
		}
		return e.name(f)
	})
}

// fieldRef is a field's name in braces, {KDC}, in a CouldNotRunError.
var fieldRef = regexp.MustCompile(`\{([A-Z][A-Za-z]*)\}`)

func (e *CouldNotRunError) Unwrap() error { return e.Err }
