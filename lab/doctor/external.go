package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	krbclient "github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// ExternalOptions describe a real deployment as seen from a Linux box:
// no state dir, no access to the hosts, only what a client can see.
type ExternalOptions struct {
	URL   string // the site through the load balancer, e.g. https://sso.corp.example/
	Realm string // e.g. CORP.EXAMPLE
	KDC   string // host:port of a KDC (a domain controller, port 88)
	User  string // the user to log in as, without @REALM
	// Password logs User in; "" = use the user's MIT ccache (CCache).
	// It is never logged nor printed.
	Password string
	CCache   string // ccache path; "" = KRB5CCNAME, else /tmp/krb5cc_<uid>
	// Backends are hosts to reach directly (host:port, or http://host:port
	// when the host speaks plain HTTP behind a TLS-terminating LB), with the
	// URL's host name as Host and SNI.
	Backends []string
	// Connect, if set, is where connections for the URL go instead of
	// resolving its host (like curl --connect-to), e.g. the LB's address.
	Connect  string
	Requests int    // through the URL; 0 = 2 per backend, at least 4
	CAFile   string // PEM bundle that signs the site's certificate; "" = system roots
	// MaxFieldLength is the hosts' header limit (http.sys MaxFieldLength);
	// 0 = 16384.
	MaxFieldLength int
}

func (o *ExternalOptions) resolve() (*url.URL, error) {
	u, err := url.Parse(o.URL)
	if err != nil || u.Hostname() == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, &CouldNotRunError{What: fmt.Sprintf("{URL} %q is not an http(s) URL with a host name", o.URL), Fix: "give the URL users browse to as {URL}, e.g. https://sso.corp.example/"}
	}
	o.User, _, _ = strings.Cut(o.User, "@")
	var missing []string
	for _, f := range [][2]string{{"{Realm}", o.Realm}, {"{KDC}", o.KDC}, {"{User}", o.User}} {
		if f[1] == "" {
			missing = append(missing, f[0])
		}
	}
	if len(missing) > 0 {
		return nil, &CouldNotRunError{What: "missing " + strings.Join(missing, ", "), Fix: "give {URL}, {Realm}, {KDC} (HOST:PORT) and {User}"}
	}
	if o.Requests <= 0 {
		o.Requests = max(4, 2*len(o.Backends))
	}
	if o.MaxFieldLength <= 0 {
		o.MaxFieldLength = backend.DefaultMaxFieldLength
	}
	return u, nil
}

// extDoctor carries one external diagnosis.
type extDoctor struct {
	builder
	o     ExternalOptions
	u     *url.URL
	krb   *krbclient.Client
	spn   string
	clock func() time.Time
	alts  map[string][]string // cause → causes that look the same from outside
}

// DiagnoseExternal diagnoses a real deployment from outside, as an engineer
// would from a Linux box: kinit, klist get, curl --negotiate to
// each host with the site's name as Host, N requests through the load
// balancer, clocks from the KDC's and the hosts' answers. A
// *CouldNotRunError means it could not diagnose (KDC unreachable, wrong
// password, ...).
func DiagnoseExternal(ctx context.Context, o ExternalOptions) (*Report, error) {
	u, err := o.resolve()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(u.Hostname())
	x := &extDoctor{o: o, u: u, spn: "HTTP/" + name, clock: time.Now, alts: map[string][]string{}}
	x.r = &Report{Name: name, SPN: x.spn}
	if err := x.login(ctx); err != nil {
		return nil, err
	}
	defer x.krb.Destroy()
	token := x.checkTicket()
	x.checkOffers(ctx)
	var hits []hit
	if token != "" {
		x.checkTokenSize(token)
		hits = x.checkBackends(ctx)
	}
	x.checkLB(ctx, token != "", hits)
	x.verdict()
	x.explainAlternatives()
	return x.r, nil
}

// login checks the KDC answers, measures its clock, and logs the user in.
func (x *extDoctor) login(ctx context.Context) error {
	cfg, err := externalKrb5Conf(x.o.Realm, x.o.KDC)
	if err != nil {
		return &CouldNotRunError{What: fmt.Sprintf("krb5 settings for realm %q, KDC %q: %v", x.o.Realm, x.o.KDC, err), Fix: "check {Realm} and {KDC} (HOST:PORT)"}
	}
	p, err := probeKDC(ctx, cfg, x.o.KDC, x.o.Realm, x.o.User)
	if err := probeError(x.o, p, err); err != nil {
		return err
	}
	x.add(Pass, "KDC", fmt.Sprintf("%s answers over TCP in %s", x.o.KDC, p.RTT.Round(10*time.Microsecond)), "")
	if p.Code >= 0 {
		x.addClock("KDC clock", p.Offset, "the KDC's KRB-ERROR stime")
	} else {
		x.add(Warn, "KDC clock", "not measured: the KDC does not require pre-authentication for "+x.o.User+" (AD always does)", "")
	}
	cl, how, err := externalLogin(x.o, cfg)
	if err != nil {
		return err
	}
	x.krb = cl
	x.add(Pass, "login", fmt.Sprintf("kinit %s@%s: TGT from %s", x.o.User, x.o.Realm, how), "")
	return nil
}

// addClock reports a clock offset against this box: WARN past a minute,
// FAIL past the Kerberos skew (5 minutes).
func (x *extDoctor) addClock(name string, off time.Duration, from string) {
	off = off.Round(time.Second)
	abs := max(off, -off)
	detail := fmt.Sprintf("off by %s from this box (%s)", off, from)
	switch {
	case abs > backend.DefaultMaxClockSkew:
		x.add(Fail, name, detail+": more than 5m: KRB_AP_ERR_SKEW", CauseClockSkew)
	case abs > time.Minute:
		x.add(Warn, name, detail+": within 5m, but drifting", CauseClockSkew)
		x.r.Warns = append(x.r.Warns, CauseClockSkew)
	default:
		x.add(Pass, name, detail, "")
	}
}

// checkTicket is klist get HTTP/name; it returns a token for size checks.
func (x *extDoctor) checkTicket() string {
	tkt, _, err := x.krb.GetServiceTicket(x.spn)
	if err = krbhttp.AsKerberosError(err); err != nil {
		name := krbhttp.ErrorName(err)
		if krbhttp.IsKerberosCode(err, errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN) {
			x.add(Fail, "service ticket", fmt.Sprintf("klist get %s: KDC_ERR_S_PRINCIPAL_UNKNOWN: either no account holds the SPN (missing SPN) or two do (duplicate SPN, refused by AD): run setspn -Q %s and setspn -X on a domain member", x.spn, x.spn), CauseMissingSPN)
			x.alts[CauseMissingSPN] = []string{CauseDuplicateSPN, CauseAlias}
			return ""
		}
		x.add(Fail, "service ticket", fmt.Sprintf("klist get %s: %s: a browser falls back to NTLM", x.spn, name), "")
		return ""
	}
	x.add(Pass, "service ticket", fmt.Sprintf("klist get %s: kvno %d, %s", x.spn, tkt.EncPart.KVNO, etypeName(tkt.EncPart.EType)), "")
	token, err := x.token()
	if err != nil {
		x.add(Fail, "service ticket", err.Error(), "")
		return ""
	}
	return token
}

// etypeNames are the enctypes a farm's tickets use, by number.
var etypeNames = map[int32]string{17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96", 23: "arcfour-hmac"}

// etypeName is an enctype's MIT name, or its number.
func etypeName(et int32) string {
	if n, ok := etypeNames[et]; ok {
		return n
	}
	return fmt.Sprintf("enctype %d", et)
}

// checkTokenSize compares the Authorization header with the hosts' limit.
func (x *extDoctor) checkTokenSize(token string) {
	n := len("Authorization: ") + len(token)
	limit := x.o.MaxFieldLength
	detail := fmt.Sprintf("Authorization header %d bytes, limit %d (MaxFieldLength)", n, limit)
	switch {
	case n > limit:
		x.add(Fail, "token size", detail+": hosts answer 400 Request Header Too Long", CauseLargeToken)
	case n > limit*3/4:
		x.add(Warn, "token size", detail+": close to the limit: a few more groups and it fails", CauseLargeToken)
		x.r.Warns = append(x.r.Warns, CauseLargeToken)
	default:
		x.add(Pass, "token size", detail, "")
	}
}

// verdict is the lab doctor's.

// explainAlternatives adds, to the verdict, the causes that look the same
// from outside.
func (x *extDoctor) explainAlternatives() {
	x.r.Alternatives = x.alts[x.r.Cause]
	if len(x.r.Alternatives) == 0 {
		return
	}
	x.r.Verdict += "; from outside this looks the same as: " + strings.Join(x.r.Alternatives, ", ")
}
