package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/krbfarm/krbfarm/backend"
)

// Check results.
const (
	Pass = "PASS"
	Warn = "WARN"
	Fail = "FAIL"
)

// Check is one line of the doctor's report.
type Check struct {
	Status string `json:"status"`
	Name   string `json:"check"`
	Detail string `json:"detail"`
	Cause  string `json:"cause,omitempty"` // the catalogue entry it points to
}

// Report is the doctor's finding: every check, then the verdict.
type Report struct {
	Name    string   `json:"name"` // the host name clients use
	SPN     string   `json:"spn"`
	Checks  []Check  `json:"checks"`
	Cause   string   `json:"cause,omitempty"` // first failing check's cause; "" = healthy
	Verdict string   `json:"verdict"`
	Fix     string   `json:"fix,omitempty"`
	Warns   []string `json:"warnings,omitempty"` // causes of warnings
	// Underlying is, when Cause is ntlm-fallback, why Kerberos failed.
	Underlying string `json:"underlying,omitempty"`
	// Alternatives are causes that look the same as Cause from where the
	// doctor stood (external mode cannot see the hosts' keytabs).
	Alternatives []string `json:"alternatives,omitempty"`
	ntlm         bool     // the LB sample was served over NTLM
}

// Healthy reports whether no check failed.
func (r *Report) Healthy() bool { return r.Cause == "" }

// DoctorOptions tune a diagnosis. The zero value checks the farm's FQDN.
type DoctorOptions struct {
	Name     string // the host name clients use; "" = the farm's FQDN
	Requests int    // through the LB; 0 = 2 per backend
	// Browser makes the LB sample fall back to NTLM as a browser does when
	// there is no Kerberos ticket; a site served that way is diagnosed as
	// ntlm-fallback, with the reason Kerberos failed as Underlying.
	Browser bool
	// User is whose tickets and requests are checked; "" = the farm's
	// first user.
	User string
}

// doctor carries one diagnosis.
type doctor struct {
	a      *Admin
	d      *Directory
	r      *Report
	holder *Account
	token  string
	user   string // "" = the farm's first user
}

// Diagnose runs the checks a Windows admin runs by hand (setspn -Q,
// klist get, klist -kte, Invoke-WebRequest per host and through the LB,
// w32tm) and names the catalogue entry the farm's trouble matches.
func (a *Admin) Diagnose(ctx context.Context, o DoctorOptions) (*Report, error) {
	d, err := a.Directory()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(or(o.Name, a.FQDN))
	if o.Requests == 0 {
		o.Requests = 2 * len(a.Info.Backends)
	}
	doc := &doctor{a: a, d: d, r: &Report{Name: name, SPN: "HTTP/" + name}, user: o.User}
	doc.checkSPN()
	if err := doc.checkTicket(); err != nil {
		return nil, err
	}
	for _, h := range d.Hosts {
		doc.checkHost(ctx, h)
	}
	doc.checkProviders(ctx, name)
	s, err := a.sampleLB(ctx, o.User, name, o.Requests, o.Browser)
	if err != nil {
		return nil, err
	}
	detail := fmt.Sprintf("%d requests to https://%s/: %s", s.Requests, name, s)
	if doc.r.ntlm = servedOverNTLM(s); doc.r.ntlm {
		detail += ": works, but over NTLM: Kerberos was not used"
	}
	doc.add(statusOf(s.OK()), "load balancer", detail, "")
	doc.checkReplay(ctx)
	doc.verdict()
	return doc.r, nil
}

func statusOf(ok bool) string {
	if ok {
		return Pass
	}
	return Fail
}

func (doc *doctor) add(status, name, detail, cause string) {
	if status == Pass {
		cause = ""
	}
	doc.r.Checks = append(doc.r.Checks, Check{Status: status, Name: name, Detail: detail, Cause: cause})
}

// checkSPN is setspn -Q HTTP/name and setspn -X for it.
func (doc *doctor) checkSPN() {
	spn := doc.r.SPN
	hs := doc.d.Holders(spn)
	switch {
	case len(hs) == 0:
		cause := CauseMissingSPN
		if doc.r.Name != strings.ToLower(doc.a.FQDN) {
			cause = CauseAlias
		}
		doc.add(Fail, "SPN holder", fmt.Sprintf("setspn -Q %s: no such SPN found", spn), cause)
	case len(hs) > 1:
		var names []string
		for _, h := range hs {
			names = append(names, doc.d.Qualified(h))
		}
		doc.add(Fail, "SPN holder", fmt.Sprintf("setspn -X: %s is held by %s: the KDC refuses it", spn, strings.Join(names, " and ")), CauseDuplicateSPN)
	default:
		doc.holder = hs[0]
		doc.add(Pass, "SPN holder", fmt.Sprintf("%s is held by %s only (kvno %d)", spn, doc.d.Qualified(hs[0]), hs[0].KVNO), "")
	}
}

// checkTicket is klist get HTTP/name: a service ticket and its kvno and
// enctype, plus a token that the per-host checks verify offline.
func (doc *doctor) checkTicket() error {
	c, err := doc.a.userClient(doc.user, doc.r.Name, doc.a.Info.LB.Addr, false)
	if err != nil {
		return err
	}
	defer c.Close()
	kvno, et, err := c.ServiceTicket()
	if err != nil {
		doc.add(Fail, "service ticket", fmt.Sprintf("klist get %s: %s: a browser falls back to NTLM", doc.r.SPN, KerberosErrorName(err)), doc.firstCause())
		return nil
	}
	doc.add(Pass, "service ticket", fmt.Sprintf("klist get %s: kvno %d, %s", doc.r.SPN, kvno, etypeNames[et]), "")
	doc.token, err = c.Token()
	return err
}

func (doc *doctor) firstCause() string {
	for _, c := range doc.r.Checks {
		if c.Cause != "" {
			return c.Cause
		}
	}
	return CauseMissingSPN
}

// checkHost checks one host: which key IIS decrypts with, whether its
// keytab decrypts the ticket (kvno -k), its clock, and a direct request.
func (doc *doctor) checkHost(ctx context.Context, h *HostSite) {
	doc.checkPool(h)
	acct := h.IIS.DecryptingAccount(doc.d.Service, h.Machine)
	why := h.IIS.Explain(doc.d.Service, h.Machine)
	if doc.holder != nil && !strings.EqualFold(acct, doc.holder.Name) {
		doc.add(Fail, h.Name+" IIS", fmt.Sprintf("%s, but %s holds %s", why, doc.d.Qualified(doc.holder), doc.r.SPN), doc.wrongAccountCause(h))
	} else {
		doc.add(Pass, h.Name+" IIS", why, "")
	}
	if off := h.ClockOffset; off > backend.DefaultMaxClockSkew || -off > backend.DefaultMaxClockSkew {
		doc.add(Fail, h.Name+" clock", fmt.Sprintf("off by %s (more than 5m)", off), CauseClockSkew)
	} else {
		doc.add(Pass, h.Name+" clock", fmt.Sprintf("off by %s", off), "")
	}
	if doc.token != "" {
		doc.checkHeaderSize(h)
		doc.checkKeytab(h)
		doc.checkDirect(ctx, h)
	}
}

// checkPool is the app pool's state and the WAS event behind it (5021):
// without the batch logon right the pool is stopped and the host answers 503.
func (doc *doctor) checkPool(h *HostSite) {
	if h.IIS.BatchRight() {
		doc.add(Pass, h.Name+" app pool", "started: its identity holds \"Log on as a batch job\"", "")
		return
	}
	detail := "stopped: its identity lacks \"Log on as a batch job\" (SeBatchLogonRight)"
	if e := lastEvent(EventsPath(doc.a.Dir, h.Name), backend.EventPoolIdentity); e != "" {
		detail += "; event 5021: " + e
	}
	doc.add(Fail, h.Name+" app pool", detail, CauseNoBatchRight)
}

// wrongAccountCause names why host h decrypts with the wrong account.
func (doc *doctor) wrongAccountCause(h *HostSite) string {
	pool := h.IIS.PoolAccount(doc.d.Service, h.Machine)
	switch {
	case h.IIS.KernelMode() && !h.IIS.AppPoolCredentials() && strings.EqualFold(pool, doc.holder.Name):
		return CauseAppPoolCredsOff
	case doc.holder.Kind == KindMachine:
		return CauseSPNOnMachines
	}
	return CauseWrongAccount
}

// checkKeytab verifies the token offline with the host's keytab, as
// `kvno -k KEYTAB HTTP/fqdn` would: kvno, enctype and key.
func (doc *doctor) checkKeytab(h *HostSite) {
	path := doc.a.hostKeytabPath(h.Name)
	kt, err := keytab.Load(path)
	if err != nil {
		doc.add(Fail, h.Name+" keytab", fmt.Sprintf("%s: %v", path, err), CauseStaleKeytab)
		return
	}
	v := backend.NewVerifier(backend.Config{Name: h.Name, Realm: doc.d.Realm, ReplayCacheSize: 16}, kt, nil)
	id, err := v.Verify(doc.token, "doctor")
	var ae *backend.AuthError
	switch {
	case err == nil:
		doc.add(Pass, h.Name+" keytab", fmt.Sprintf("klist -kte: decrypts the ticket (kvno %d, %s)", id.KVNO, id.EncType), "")
	case errors.As(err, &ae):
		doc.add(Fail, h.Name+" keytab", fmt.Sprintf("%s: %s", ae.Name, ae.Detail), doc.keytabCause(h, ae))
	default:
		doc.add(Fail, h.Name+" keytab", err.Error(), CauseStaleKeytab)
	}
}

func (doc *doctor) keytabCause(h *HostSite, ae *backend.AuthError) string {
	switch {
	case doc.holder != nil && !strings.EqualFold(h.IIS.DecryptingAccount(doc.d.Service, h.Machine), doc.holder.Name):
		return doc.wrongAccountCause(h)
	case ae.Name == backend.ReasonNoKey && strings.Contains(ae.Detail, "enctype"):
		return CauseEnctype
	}
	return CauseStaleKeytab
}

// checkDirect sends one request to the host itself with Host: name, as
// Invoke-WebRequest against one server would.
func (doc *doctor) checkDirect(ctx context.Context, h *HostSite) {
	addr := doc.a.hostAddr(h.Name)
	c, err := doc.a.userClient(doc.user, doc.r.Name, addr, false)
	if err != nil {
		doc.add(Fail, h.Name+" direct", err.Error(), "")
		return
	}
	defer c.Close()
	marks := doc.a.logMarks()
	res, err := c.Get(ctx, doc.a.hostURL(doc.r.Name, addr))
	switch {
	case err != nil:
		doc.add(Fail, h.Name+" direct", err.Error(), "")
	case res.Status == 200:
		doc.add(Pass, h.Name+" direct", fmt.Sprintf("200 as %s (%s)", res.User, res.Mechanism), "")
	default:
		reason := doc.a.reasonsSince(marks)[h.Name]
		if reason == "" && res.Status == 503 {
			reason = "Service Unavailable (app pool stopped)"
		}
		doc.add(Fail, h.Name+" direct", fmt.Sprintf("%d %s", res.Status, reason), doc.causeFor(h.Name))
	}
}

// causeFor is the cause an earlier check found for host, if any.
func (doc *doctor) causeFor(host string) string {
	for _, c := range doc.r.Checks {
		if c.Cause != "" && strings.HasPrefix(c.Name, host+" ") {
			return c.Cause
		}
	}
	return ""
}

// checkReplay replays one token to every host: the host that saw it
// refuses it (REPEAT); others, with their own replay cache, accept it.
func (doc *doctor) checkReplay(ctx context.Context) {
	hosts := doc.a.Info.Backends
	if doc.token == "" || len(hosts) < 2 {
		return
	}
	var accepted []string
	for _, b := range hosts {
		c, err := doc.a.userClient(doc.user, doc.r.Name, b.Addr, false)
		if err != nil {
			return
		}
		res, err := c.GetWithToken(ctx, doc.a.hostURL(doc.r.Name, b.Addr), doc.token)
		c.Close()
		if err == nil && res.Status == 200 {
			accepted = append(accepted, b.Name)
		}
	}
	if len(accepted) > 1 {
		doc.add(Warn, "replay", fmt.Sprintf("one captured token was accepted by %s: replay caches are per host", strings.Join(accepted, " and ")), CauseReplay)
		doc.r.Warns = append(doc.r.Warns, CauseReplay)
	} else {
		doc.add(Pass, "replay", fmt.Sprintf("a replayed token was accepted by %d host(s)", len(accepted)), "")
	}
}

// verdict names the first failing check's catalogue entry and its fix.
func (doc *doctor) verdict() {
	for _, c := range doc.r.Checks {
		if c.Status == Fail && c.Cause != "" {
			doc.r.Cause = c.Cause
			break
		}
	}
	if doc.r.Cause == "" {
		for _, c := range doc.r.Checks {
			if c.Status == Fail {
				doc.r.Cause = "unknown"
				doc.r.Verdict = "a check failed for a reason not in the catalogue: " + c.Name + ": " + c.Detail
				return
			}
		}
		doc.r.Verdict = "healthy: every host decrypts the ticket and every request is served with Kerberos"
		return
	}
	f := catalogue[doc.r.Cause]
	doc.r.Verdict, doc.r.Fix = f.Title, f.Fix
	if doc.r.ntlm {
		nf := catalogue[CauseNTLMFallback]
		doc.r.Underlying, doc.r.Cause = doc.r.Cause, CauseNTLMFallback
		doc.r.Verdict = nf.Title + "; underlying: " + f.Title
	}
}

// servedOverNTLM reports whether every request was served, some over NTLM.
func servedOverNTLM(s Sample) bool {
	ntlm := false
	for _, o := range s.Outcomes {
		if o.Status != 200 {
			return false
		}
		ntlm = ntlm || o.Mechanism == "NTLM"
	}
	return ntlm && s.Errors == 0 && s.TicketError == ""
}

func (a *Admin) hostKeytabPath(name string) string {
	for _, h := range a.hosts {
		if h.name == name {
			return h.keytab
		}
	}
	return ""
}

func (a *Admin) hostAddr(name string) string {
	for _, b := range a.Info.Backends {
		if b.Name == name {
			return b.Addr
		}
	}
	return ""
}

// hostURL is the URL to reach a host directly: HTTPS when the LB passes
// TLS through (the hosts serve it), else HTTP.
func (a *Admin) hostURL(name, addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	scheme := "http"
	if a.Info.LB.Mode == "passthrough" || a.Info.LB.Mode == "reencrypt" {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%s/", scheme, name, port)
}

var etypeNames = map[int32]string{17: "aes128-cts-hmac-sha1-96", 18: "aes256-cts-hmac-sha1-96", 23: "arcfour-hmac"}

// lastEvent is the message of the newest event id in a host's events
// file, or "" when there is none (Get-WinEvent -MaxEvents 1).
func lastEvent(path string, id int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	evs, _, _ := backend.ReadEvents(f, 10000)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].ID == id {
			return evs[i].Message
		}
	}
	return ""
}
