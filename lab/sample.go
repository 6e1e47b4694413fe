package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Outcome is how one backend answered a series of requests.
type Outcome struct {
	Backend string `json:"backend"`
	Status  int    `json:"status"`
	Count   int    `json:"count"`
	// Mechanism is how the 200s were authenticated: Kerberos or NTLM.
	Mechanism string `json:"mechanism,omitempty"`
	Reason    string `json:"reason,omitempty"` // from the host's log, for refusals
}

// Sample is what N requests returned, summarised per backend, as a user
// (or `Invoke-WebRequest` in a loop) sees it.
type Sample struct {
	Name        string    `json:"name"` // the host name in the URL
	Requests    int       `json:"requests"`
	Outcomes    []Outcome `json:"outcomes"`
	TicketError string    `json:"ticket_error,omitempty"` // no ticket at all: the KDC's error name
	Errors      int       `json:"errors"`                 // requests that got no answer
}

// OK reports whether every request was served (200) with Kerberos: a site
// served over NTLM works, but is not what the farm is for.
func (s Sample) OK() bool {
	if s.TicketError != "" || s.Errors > 0 {
		return false
	}
	for _, o := range s.Outcomes {
		if o.Status != 200 || o.Mechanism == "NTLM" {
			return false
		}
	}
	return len(s.Outcomes) > 0
}

// String is the one-line summary, e.g.
// "server1 200 x3 · server2 401 x3 KRB_AP_ERR_MODIFIED".
func (s Sample) String() string {
	if s.TicketError != "" {
		return fmt.Sprintf("no Kerberos ticket: %s; a browser would fall back to NTLM (or prompt)", s.TicketError)
	}
	var parts []string
	for _, o := range s.Outcomes {
		p := fmt.Sprintf("%s %d x%d", o.Backend, o.Status, o.Count)
		if o.Mechanism == "NTLM" {
			p += " NTLM"
		}
		if o.Reason != "" {
			p += " " + o.Reason
		}
		parts = append(parts, p)
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("no answer x%d", s.Errors))
	}
	return strings.Join(parts, " · ")
}

var krbErrName = regexp.MustCompile(`K(DC|RB)_(ERR|AP_ERR)_[A-Z_]+`)

// KerberosErrorName picks the Kerberos error name out of an error's text.
func KerberosErrorName(err error) string {
	if m := krbErrName.FindString(err.Error()); m != "" {
		return m
	}
	return err.Error()
}

// newUserClient logs the farm's first user in, for tickets to HTTP/name,
// reaching dial (the LB or a host).
func (a *Admin) newUserClient(name, dial string) (*Client, error) {
	return a.userClient(name, dial, false)
}

// userClient is newUserClient; with browser set, the client falls back to
// NTLM when the KDC has no such SPN, as a browser does.
func (a *Admin) userClient(name, dial string, browser bool) (*Client, error) {
	if len(a.Info.Users) == 0 {
		return nil, fmt.Errorf("farm.json lists no user")
	}
	u := a.Info.Users[0]
	user, _, _ := strings.Cut(u.Principal, "@")
	password := u.Password
	if d, err := a.Directory(); err == nil && d.Account(user) != nil {
		password = d.Account(user).Password // after a reset, farm.json's is stale
	}
	return NewClient(ClientConfig{Krb5Conf: a.Info.Krb5Conf, Realm: a.Info.Realm, User: user, Password: password,
		SPN: "HTTP/" + name, CAFile: a.Info.CACert, DialAddr: dial, NTLMFallback: browser})
}

// URLFor is the front door's URL with another host name (an alias).
func (a *Admin) URLFor(name string) string {
	_, port, _ := net.SplitHostPort(a.Info.LB.Addr)
	return fmt.Sprintf("https://%s:%s/", name, port)
}

// SampleLB sends n requests through the load balancer to https://name/,
// each on a new connection with a fresh token (a fresh login, as after
// `klist purge`), and summarises them per backend with the reasons the
// hosts logged.
func (a *Admin) SampleLB(ctx context.Context, name string, n int) (Sample, error) {
	return a.sampleLB(ctx, name, n, false)
}

// SampleBrowser is SampleLB as a browser sends it: without a Kerberos
// ticket it falls back to NTLM where the site offers it.
func (a *Admin) SampleBrowser(ctx context.Context, name string, n int) (Sample, error) {
	return a.sampleLB(ctx, name, n, true)
}

func (a *Admin) sampleLB(ctx context.Context, name string, n int, browser bool) (Sample, error) {
	s := Sample{Name: name, Requests: n}
	c, err := a.userClient(name, a.Info.LB.Addr, browser)
	if err != nil {
		return s, err
	}
	defer c.Close()
	marks := a.logMarks()
	counts := map[[3]string]int{} // backend, status, mechanism → count
	for i := 0; i < n; i++ {
		res, err := c.Get(ctx, a.URLFor(name))
		if err != nil {
			if strings.Contains(err.Error(), "service ticket") {
				s.TicketError = KerberosErrorName(err)
				return s, nil
			}
			s.Errors++
			continue
		}
		counts[[3]string{res.Backend, fmt.Sprint(res.Status), res.Mechanism}]++
	}
	reasons := a.reasonsSince(marks)
	for k, v := range counts {
		o := Outcome{Backend: k[0], Count: v, Mechanism: k[2]}
		fmt.Sscan(k[1], &o.Status)
		if o.Status != 200 {
			o.Reason = reasons[o.Backend]
		}
		s.Outcomes = append(s.Outcomes, o)
	}
	sort.Slice(s.Outcomes, func(i, j int) bool {
		x, y := s.Outcomes[i], s.Outcomes[j]
		return x.Backend < y.Backend || x.Backend == y.Backend && x.Mechanism < y.Mechanism
	})
	return s, nil
}

// logMarks records the size of every host log, to read only new lines.
func (a *Admin) logMarks() map[string]int64 {
	m := map[string]int64{}
	for _, b := range a.Info.Backends {
		if fi, err := os.Stat(b.Log); err == nil {
			m[b.Name] = fi.Size()
		}
	}
	return m
}

// reasonsSince returns, per host, the most frequent refusal reason it
// logged since marks (hosts log JSON lines with backend, reason, code).
func (a *Admin) reasonsSince(marks map[string]int64) map[string]string {
	out := map[string]string{}
	for _, b := range a.Info.Backends {
		count := map[string]int{}
		for _, r := range readReasons(b.Log, marks[b.Name]) {
			count[r]++
		}
		best := 0
		for r, n := range count {
			if n > best || n == best && r < out[b.Name] {
				out[b.Name], best = r, n
			}
		}
	}
	return out
}

func readReasons(path string, from int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l struct{ Reason string }
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Reason != "" {
			out = append(out, l.Reason)
		}
	}
	return out
}
