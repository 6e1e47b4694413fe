package doctor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
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

// Options tune a diagnosis. The zero value checks the farm's FQDN.
type Options struct {
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

// Lab is the running farm as the doctor examines it: its directory, its
// hosts, clients logged in to its realm, requests sampled through its load
// balancer, and the refusal reasons its hosts logged. *lab.Admin is one.
type Lab interface {
	Directory() (*directory.Directory, error)
	SiteName() string  // the FQDN users browse to
	FirstUser() string // the farm's first user, "" if none
	LBAddr() string    // the front door's address
	Hosts() []Host
	// UserClient logs user in ("" = the first user) for HTTP/name,
	// reaching dial; browser makes it fall back to NTLM as a browser does.
	UserClient(user, name, dial string, browser bool) (*krbhttp.Client, error)
	// SampleAs sends n requests as user through the LB to https://name/.
	SampleAs(ctx context.Context, user, name string, n int, browser bool) (krbhttp.Sample, error)
	// Offers is one anonymous GET through the LB: the schemes a 401 lists.
	Offers(ctx context.Context, name string) (schemes []string, status int, err error)
	// HostURL is the URL that reaches a host at addr directly as name.
	HostURL(name, addr string) string
	// LogMarks and ReasonsSince read the refusal reasons the hosts logged
	// after the marks were taken, the most frequent per host.
	LogMarks() map[string]int64
	ReasonsSince(marks map[string]int64) map[string]string
}

// Host is one host of the farm as the doctor reaches it.
type Host struct {
	Name   string // e.g. server1
	Addr   string // where it listens, host:port
	Keytab string // its keytab's path
	Events string // its Windows-like events file (see backend.ReadEvents)
}

// doctor carries one diagnosis of a running farm.
type doctor struct {
	builder
	lab    Lab
	d      *directory.Directory
	holder *directory.Account
	token  string
	user   string // "" = the farm's first user
}

// Diagnose runs the checks a Windows admin runs by hand (setspn -Q,
// klist get, klist -kte, Invoke-WebRequest per host and through the LB,
// w32tm) and names the catalogue entry the farm's trouble matches.
func Diagnose(ctx context.Context, l Lab, o Options) (*Report, error) {
	d, err := l.Directory()
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(cmp.Or(o.Name, l.SiteName()))
	if o.Requests == 0 {
		o.Requests = 2 * len(l.Hosts())
	}
	doc := &doctor{builder: builder{r: &Report{Name: name, SPN: "HTTP/" + name}}, lab: l, d: d, user: o.User}
	doc.CheckSPN()
	if err := doc.checkTicket(); err != nil {
		return nil, err
	}
	for _, h := range d.Hosts {
		doc.checkHost(ctx, h)
	}
	doc.checkRotation()
	doc.checkProviders(ctx, name)
	if err := doc.checkLB(ctx, name, o); err != nil {
		return nil, err
	}
	doc.checkPooling(ctx, name)
	doc.checkReplay(ctx)
	doc.verdict()
	return doc.r, nil
}

// checkLB sends requests through the load balancer, as users do, and reads
// the reasons the hosts logged for refusing them: an Extended Protection
// refusal names its cause there (the token was bound to the LB's TLS).
func (doc *doctor) checkLB(ctx context.Context, name string, o Options) error {
	marks := doc.lab.LogMarks()
	s, err := doc.lab.SampleAs(ctx, o.User, name, o.Requests, o.Browser)
	if err != nil {
		return err
	}
	detail := fmt.Sprintf("%d requests to %s: %s", s.Requests, FrontDoor(name, doc.lab.LBAddr()), s)
	if doc.r.ntlm = s.OverNTLM(); doc.r.ntlm {
		detail += ": works, but over NTLM: Kerberos was not used"
	}
	cause := ""
	if !s.OK() {
		if line, ok := epaRefusals(doc.lab.ReasonsSince(marks)); ok {
			detail += "; hosts refused: " + line + ": the token is bound to the certificate the client saw (the LB's), not to a channel the host has"
			cause = CauseEPA
		}
	}
	doc.add(statusOf(s.OK()), "load balancer", detail, cause)
	return nil
}

// epaRefusals lists the hosts that refused with an Extended Protection
// reason (EPA_*), e.g. "server1 EPA_CHANNEL_BINDING_MISMATCH".
func epaRefusals(reasons map[string]string) (string, bool) {
	var hosts []string
	for h, r := range reasons {
		if strings.HasPrefix(r, "EPA_") {
			hosts = append(hosts, h+" "+r)
		}
	}
	sort.Strings(hosts)
	return strings.Join(hosts, ", "), len(hosts) > 0
}

// checkSPN is setspn -Q HTTP/name and setspn -X for it.
func (doc *doctor) CheckSPN() {
	spn := doc.r.SPN
	hs := doc.d.Holders(spn)
	switch {
	case len(hs) == 0:
		cause := CauseMissingSPN
		if doc.r.Name != strings.ToLower(doc.lab.SiteName()) {
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
	c, err := doc.lab.UserClient(doc.user, doc.r.Name, doc.lab.LBAddr(), false)
	if err != nil {
		return err
	}
	defer c.Close()
	kvno, et, err := c.ServiceTicket()
	if err != nil {
		doc.add(Fail, "service ticket", fmt.Sprintf("klist get %s: %s: a browser falls back to NTLM", doc.r.SPN, krbhttp.ErrorName(err)), doc.firstCause())
		return nil
	}
	doc.add(Pass, "service ticket", fmt.Sprintf("klist get %s: kvno %d, %s", doc.r.SPN, kvno, etypeName(et)), "")
	doc.token, err = c.Token()
	return err
}

// checkHost checks one host: which key IIS decrypts with, whether its
// keytab decrypts the ticket (kvno -k), its clock, and a direct request.
func (doc *doctor) checkHost(ctx context.Context, h *directory.HostSite) {
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

// wrongAccountCause names why host h decrypts with the wrong account.
func (doc *doctor) wrongAccountCause(h *directory.HostSite) string {
	pool := h.IIS.PoolAccount(doc.d.Service, h.Machine)
	switch {
	case h.IIS.KernelMode() && !h.IIS.AppPoolCredentials() && strings.EqualFold(pool, doc.holder.Name):
		return CauseAppPoolCredsOff
	case doc.holder.Kind == directory.KindMachine:
		return CauseSPNOnMachines
	}
	return CauseWrongAccount
}

// checkKeytab verifies the token offline with the host's keytab, as
// `kvno -k KEYTAB HTTP/fqdn` would: kvno, enctype and key.
func (doc *doctor) checkKeytab(h *directory.HostSite) {
	path := doc.host(h.Name).Keytab
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

func (doc *doctor) keytabCause(h *directory.HostSite, ae *backend.AuthError) string {
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
func (doc *doctor) checkDirect(ctx context.Context, h *directory.HostSite) {
	addr := doc.host(h.Name).Addr
	c, err := doc.lab.UserClient(doc.user, doc.r.Name, addr, false)
	if err != nil {
		doc.add(Fail, h.Name+" direct", err.Error(), "")
		return
	}
	defer c.Close()
	marks := doc.lab.LogMarks()
	res, err := c.Get(ctx, doc.lab.HostURL(doc.r.Name, addr))
	switch {
	case err != nil:
		doc.add(Fail, h.Name+" direct", err.Error(), "")
	case res.Status == 200:
		doc.add(Pass, h.Name+" direct", fmt.Sprintf("200 as %s (%s)", res.User, res.Mechanism), "")
	default:
		reason := doc.lab.ReasonsSince(marks)[h.Name]
		if reason == "" && res.Status == 503 {
			reason = "Service Unavailable (app pool stopped)"
		}
		cause := doc.causeFor(h.Name)
		if strings.HasPrefix(reason, "EPA_") {
			cause, reason = CauseEPA, reason+" ("+epaDetail(h.IIS)+")"
		}
		doc.add(Fail, h.Name+" direct", fmt.Sprintf("%d %s", res.Status, reason), cause)
	}
}

// epaDetail is a host's extendedProtection, as appcmd shows it.
func epaDetail(s directory.IISSettings) string {
	e := s.ExtendedProtection
	line := "extendedProtection tokenChecking=" + cmp.Or(string(e.TokenChecking), string(backend.TokenCheckingNone))
	if len(e.Flags) > 0 {
		line += " flags=" + strings.Join(e.Flags, ",")
	}
	return line
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
	hosts := doc.lab.Hosts()
	if doc.token == "" || len(hosts) < 2 {
		return
	}
	var accepted []string
	for _, b := range hosts {
		c, err := doc.lab.UserClient(doc.user, doc.r.Name, b.Addr, false)
		if err != nil {
			return
		}
		res, err := c.GetWithToken(ctx, doc.lab.HostURL(doc.r.Name, b.Addr), doc.token)
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

// host is the farm's host called name (zero if none).
func (doc *doctor) host(name string) Host {
	for _, h := range doc.lab.Hosts() {
		if h.Name == name {
			return h
		}
	}
	return Host{}
}

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

// FrontDoor is the URL users browse to: name at the load balancer's port.
func FrontDoor(name, lbAddr string) string {
	if _, port, err := net.SplitHostPort(lbAddr); err == nil && port != "443" {
		return "https://" + net.JoinHostPort(name, port) + "/"
	}
	return "https://" + name + "/"
}
