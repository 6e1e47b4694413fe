package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"

	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/scenario"
	"github.com/krbfarm/krbfarm/lb"
)

// UserClient logs user in ("" = the farm's first user), with the groups
// the directory gives it; with browser set, the client falls back to NTLM
// when the KDC has no such SPN, as a browser does.
func (a *Admin) UserClient(user, name, dial string, browser bool) (*krbhttp.Client, error) {
	cfg := krbhttp.Config{Krb5Conf: a.Info.Krb5Conf, Realm: a.Info.Realm, User: user,
		SPN: "HTTP/" + name, CAFile: a.Info.CACert, DialAddr: dial, NTLMFallback: browser}
	if user == "" {
		if len(a.Info.Users) == 0 {
			return nil, fmt.Errorf("farm.json lists no user")
		}
		cfg.User, _, _ = strings.Cut(a.Info.Users[0].Principal, "@")
		cfg.Password = a.Info.Users[0].Password
	}
	d, err := a.Directory()
	if err != nil {
		return nil, err
	}
	acct := d.Account(cfg.User)
	switch {
	case acct != nil:
		cfg.Password, cfg.Groups = acct.Password, acct.Groups
	case user != "":
		if cfg.Password, err = a.outsideCredentials(user); err != nil {
			return nil, err
		}
	}
	return krbhttp.New(cfg)
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
func (a *Admin) SampleLB(ctx context.Context, name string, n int) (krbhttp.Sample, error) {
	return a.SampleAs(ctx, "", name, n, false)
}

// SampleBrowser is SampleLB as a browser sends it: without a Kerberos
// ticket it falls back to NTLM where the site offers it.
func (a *Admin) SampleBrowser(ctx context.Context, name string, n int) (krbhttp.Sample, error) {
	return a.SampleAs(ctx, "", name, n, true)
}

// SampleAs is SampleLB as user ("" = the farm's first user).
func (a *Admin) SampleAs(ctx context.Context, user, name string, n int, browser bool) (krbhttp.Sample, error) {
	s := krbhttp.Sample{Name: name, Requests: n}
	c, err := a.UserClient(user, name, a.Info.LB.Addr, browser)
	if err != nil {
		return s, err
	}
	defer c.Close()
	marks := a.LogMarks()
	counts := map[[3]string]int{} // backend, status, mechanism → count
	for i := 0; i < n; i++ {
		res, err := c.Get(ctx, a.URLFor(name))
		if err != nil {
			if strings.Contains(err.Error(), "service ticket") {
				s.TicketError = krbhttp.ErrorName(err)
				return s, nil
			}
			s.Errors++
			continue
		}
		counts[[3]string{res.Backend, fmt.Sprint(res.Status), res.Mechanism}]++
	}
	reasons := a.ReasonsSince(marks)
	for k, v := range counts {
		o := krbhttp.Outcome{Backend: k[0], Count: v, Mechanism: k[2]}
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

// LogMarks records the size of every host log, to read only new lines.
func (a *Admin) LogMarks() map[string]int64 {
	m := map[string]int64{}
	for _, b := range a.Info.Backends {
		if fi, err := os.Stat(b.Log); err == nil {
			m[b.Name] = fi.Size()
		}
	}
	return m
}

// ReasonsSince returns, per host, the most frequent refusal reason it
// logged since marks (hosts log JSON lines with backend, reason, code).
func (a *Admin) ReasonsSince(marks map[string]int64) map[string]string {
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

// SiteName is the FQDN users browse to.
func (a *Admin) SiteName() string { return a.FQDN }

// FirstUser is the farm's first user, "" if farm.json lists none.
func (a *Admin) FirstUser() string {
	if len(a.Info.Users) == 0 {
		return ""
	}
	name, _, _ := strings.Cut(a.Info.Users[0].Principal, "@")
	return name
}

// LBAddr is the front door's address.
func (a *Admin) LBAddr() string { return a.Info.LB.Addr }

// RealmName is the farm's Kerberos realm.
func (a *Admin) RealmName() string { return a.Info.Realm }

// ServiceAccount is the shared account that holds the site's SPN.
func (a *Admin) ServiceAccount() string { return a.Info.Service }

// Hosts are the farm's hosts: address, keytab and events file.
func (a *Admin) Hosts() []doctor.Host {
	var out []doctor.Host
	for _, b := range a.Info.Backends {
		h := doctor.Host{Name: b.Name, Addr: b.Addr, Events: EventsPath(a.Dir, b.Name)}
		for _, r := range a.hosts {
			if r.name == b.Name {
				h.Keytab = r.keytab
			}
		}
		out = append(out, h)
	}
	return out
}

// HostURL is the URL to reach a host at addr directly as name: HTTPS
// when the LB passes TLS through (the hosts serve it), else HTTP.
func (a *Admin) HostURL(name, addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	scheme := "http"
	if a.Info.LB.Mode == lb.ModePassthrough || a.Info.LB.Mode == lb.ModeReencrypt {
		scheme = "https"
	}
	return fmt.Sprintf("%s://%s:%s/", scheme, name, port)
}

// Offers is one anonymous GET through the LB: the schemes a 401 lists.
func (a *Admin) Offers(ctx context.Context, name string) ([]string, int, error) {
	hc, err := krbhttp.NewHTTPClient(krbhttp.Config{CAFile: a.Info.CACert, DialAddr: a.Info.LB.Addr})
	if err != nil {
		return nil, 0, err
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URLFor(name), nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var out []string
	for _, v := range resp.Header.Values("WWW-Authenticate") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		out = append(out, scheme)
	}
	return out, resp.StatusCode, nil
}

// Diagnose runs the doctor on this farm (doctor.Diagnose). On a farm left
// broken as a scenario (farm.json's "scenario"), what o leaves unset
// defaults to that scenario's (Scenario.DoctorOptions): its user, its
// client, the name its users browse to.
func (a *Admin) Diagnose(ctx context.Context, o doctor.Options) (*doctor.Report, error) {
	if a.Info.Scenario != "" {
		sc, err := scenario.Find(a.Info.Scenario)
		if err != nil {
			return nil, fmt.Errorf("farm.json's scenario: %w", err)
		}
		o = sc.DoctorOptions(a, o)
	}
	return doctor.Diagnose(ctx, a, o)
}
