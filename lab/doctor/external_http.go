package doctor

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/spnego"

	"cmp"
	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// hit is one answer the external doctor got, as curl -v shows it.
type hit struct {
	backend string // X-Backend, if the site says; else ""
	status  int
	mech    string        // how a 200 was authenticated
	offset  time.Duration // the host's Date minus ours
	dated   bool
	offers  []string // WWW-Authenticate schemes on a 401
	body    string   // first line of a refusal's body
	err     error
}

// token is a fresh Negotiate Authorization value (a new authenticator).
func (x *extDoctor) token() (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://localhost/", nil)
	if err := spnego.SetSPNEGOHeader(x.krb, req, x.spn); err != nil {
		return "", fmt.Errorf("token for %s: %s", x.spn, krbhttp.ErrorName(krbhttp.AsKerberosError(err)))
	}
	return req.Header.Get("Authorization"), nil
}

// get sends one GET for the URL on a new connection to dial ("" = the
// URL's own host), with scheme ("" = the URL's) and a fresh token if auth.
func (x *extDoctor) get(ctx context.Context, dial, scheme string, auth bool) hit {
	u := *x.u
	if scheme != "" {
		u.Scheme = scheme
	}
	hc, err := krbhttp.NewHTTPClient(krbhttp.Config{CAFile: x.o.CAFile, DialAddr: cmp.Or(dial, x.o.Connect)})
	if err != nil {
		return hit{err: err}
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return hit{err: err}
	}
	req.Header.Set("Accept", "application/json")
	if auth {
		t, err := x.token()
		if err != nil {
			return hit{err: err}
		}
		req.Header.Set("Authorization", t)
	}
	t0 := x.clock()
	resp, err := hc.Do(req)
	if err != nil {
		return hit{err: err}
	}
	defer resp.Body.Close()
	return readHit(resp, t0.Add(x.clock().Sub(t0)/2), auth)
}

func readHit(resp *http.Response, mid time.Time, auth bool) hit {
	h := hit{backend: resp.Header.Get("X-Backend"), status: resp.StatusCode}
	if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		h.offset, h.dated = d.Sub(mid.Truncate(time.Second)), true
	}
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		h.offers = append(h.offers, scheme)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		var j struct{ Mechanism string }
		json.Unmarshal(body, &j)
		h.mech = j.Mechanism
		if h.mech == "" && auth {
			h.mech = "Kerberos"
		}
		return h
	}
	line, _ := bufio.NewReader(strings.NewReader(string(body))).ReadString('\n')
	h.body = strings.TrimSpace(line)
	return h
}

// checkOffers asks without credentials, as a browser's first request
// does, and reads what the site offers: NTLM there means a client without
// a Kerberos ticket falls back to it silently.
func (x *extDoctor) checkOffers(ctx context.Context) {
	h := x.get(ctx, "", "", false)
	x.addOffers(h)
}

func (x *extDoctor) addOffers(h hit) {
	switch {
	case h.err != nil:
		x.add(Fail, "site", fmt.Sprintf("%s: %v", x.o.URL, h.err), "")
	case h.status == http.StatusUnauthorized:
		x.checkOffered(h.offers)
	case h.status == http.StatusOK:
		x.add(Warn, "providers", "the site answers without authentication: Windows Authentication is off", "")
	default:
		x.add(Warn, "providers", fmt.Sprintf("the site answers %d without credentials: %s", h.status, h.body), "")
	}
}

// checkOffered reports the providers a 401 listed (WWW-Authenticate).
func (doc *builder) checkOffered(offers []string) {
	list := strings.Join(offers, ", ")
	var negotiate, ntlm bool
	for _, o := range offers {
		negotiate = negotiate || strings.EqualFold(o, backend.ProviderNegotiate)
		ntlm = ntlm || strings.EqualFold(o, backend.ProviderNTLM)
	}
	switch {
	case !negotiate:
		doc.add(Fail, "providers", fmt.Sprintf("WWW-Authenticate: %s: Negotiate is not offered, so Kerberos is never used", list), CauseNTLMFallback)
	case ntlm:
		doc.add(Warn, "providers", fmt.Sprintf("WWW-Authenticate: %s: a client without a Kerberos ticket falls back to NTLM silently", list), CauseNTLMFallback)
		doc.r.Warns = append(doc.r.Warns, CauseNTLMFallback)
	default:
		doc.add(Pass, "providers", "WWW-Authenticate: "+list+": no NTLM fallback", "")
	}
}

// checkBackends sends one request with a fresh ticket to each host
// directly, with the site's name as Host and SNI.
func (x *extDoctor) checkBackends(ctx context.Context) []hit {
	hits := make([]hit, len(x.o.Backends))
	labels := make([]string, len(x.o.Backends))
	accepted := 0
	for i, b := range x.o.Backends {
		scheme, addr := "", b
		if s, rest, ok := strings.Cut(b, "://"); ok {
			scheme, addr = s, strings.TrimSuffix(rest, "/")
		}
		h := x.get(ctx, addr, scheme, true)
		if h.err != nil && scheme == "" && strings.Contains(h.err.Error(), "HTTP response to HTTPS client") {
			h = x.get(ctx, addr, "http", true) // TLS ends at the LB; the host speaks HTTP
		}
		hits[i], labels[i] = h, cmp.Or(h.backend, addr)
		if h.status == http.StatusOK {
			accepted++
		}
	}
	for i, h := range hits {
		if h.dated {
			x.addClock(labels[i]+" clock", h.offset, "its HTTP Date header")
		}
		x.addDirect(labels[i], h, accepted)
	}
	return hits
}

func (x *extDoctor) addDirect(label string, h hit, accepted int) {
	name := label + " direct"
	if h.err != nil {
		x.add(Fail, name, h.err.Error(), "")
		return
	}
	if h.status == http.StatusOK {
		x.add(Pass, name, fmt.Sprintf("200 with Host %s (%s)", x.u.Host, h.mech), "")
		return
	}
	cause, why := x.hostCause(h, accepted)
	status := fmt.Sprint(h.status)
	if strings.HasPrefix(h.body, status) {
		status = h.body
	} else if h.body != "" {
		status += " " + h.body
	}
	x.add(Fail, name, fmt.Sprintf("%s: %s", status, why), cause)
}

// hostCause names why a host refused a valid ticket, as far as can be
// told from outside, and what to run on that host next.
func (x *extDoctor) hostCause(h hit, accepted int) (string, string) {
	abs := max(h.offset, -h.offset)
	switch {
	case h.status == http.StatusServiceUnavailable:
		return CauseNoBatchRight, "the app pool is stopped; on that host: Get-WebAppPoolState, System event 5021, and the pool identity's \"Log on as a batch job\" right"
	case h.status == http.StatusBadRequest:
		return CauseLargeToken, "the host refused the request's headers (http.sys MaxFieldLength / MaxRequestBytes)"
	case h.status == http.StatusUnauthorized && h.dated && abs > backend.DefaultMaxClockSkew:
		return CauseClockSkew, fmt.Sprintf("its clock is off by %s: KRB_AP_ERR_SKEW; on that host: w32tm /query /status, w32tm /resync", h.offset.Round(time.Second))
	case h.status != http.StatusUnauthorized:
		return "", "not a Kerberos refusal"
	}
	alts := []string{CauseSPNOnMachines, CauseAppPoolCredsOff}
	cause, who := CauseStaleKeytab, "a valid ticket that other hosts accept"
	if accepted == 0 {
		cause, who = CauseWrongAccount, "a valid ticket, as every host does"
		alts = []string{CauseAppPoolCredsOff, CauseStaleKeytab, CauseSPNOnMachines}
	}
	x.alts[cause] = alts
	return cause, fmt.Sprintf("it rejects %s: a stale keytab (old kvno), the SPN on a machine account, or useAppPoolCredentials off look the same from outside; "+
		"next, on that host: setspn -Q %s, the pool identity and useAppPoolCredentials (Get-WebConfigurationProperty ... windowsAuthentication), Security event 4625", who, x.spn)
}

// checkLB sends N requests through the URL, each with a fresh token on a
// new connection, and summarises them per backend.
func (x *extDoctor) checkLB(ctx context.Context, withTicket bool, direct []hit) {
	if !withTicket {
		return
	}
	s := krbhttp.Sample{Name: x.r.Name, Requests: x.o.Requests}
	counts := map[[3]string]int{}
	served := map[string]bool{}
	var hits []hit
	for i := 0; i < x.o.Requests; i++ {
		h := x.get(ctx, "", "", true)
		if h.err != nil {
			s.Errors++
			continue
		}
		hits = append(hits, h)
		served[h.backend] = served[h.backend] || h.status == http.StatusOK
		counts[[3]string{cmp.Or(h.backend, "site"), fmt.Sprint(h.status), h.mech}]++
	}
	for k, v := range counts {
		o := krbhttp.Outcome{Backend: k[0], Count: v, Mechanism: k[2]}
		fmt.Sscan(k[1], &o.Status)
		if o.Status != http.StatusOK {
			o.Reason = http.StatusText(o.Status)
		}
		s.Outcomes = append(s.Outcomes, o)
	}
	sort.Slice(s.Outcomes, func(i, j int) bool { return s.Outcomes[i].Backend < s.Outcomes[j].Backend })
	detail := fmt.Sprintf("%d requests to %s: %s", s.Requests, x.o.URL, s)
	if s.OK() {
		x.add(Pass, "load balancer", detail, "")
		return
	}
	x.add(Fail, "load balancer", detail, x.lbCause(hits, served))
}

// lbCause is the cause of the first refusal seen through the LB.
func (x *extDoctor) lbCause(hits []hit, served map[string]bool) string {
	accepted := 0
	for _, ok := range served {
		if ok {
			accepted++
		}
	}
	for _, h := range hits {
		if h.status != http.StatusOK {
			c, _ := x.hostCause(h, accepted)
			return c
		}
	}
	return ""
}
