package directory

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// OUs and containers of the lab's domain, the domain's DN left off.
// Accounts sit in either; a GPO links only to an OU (AD refuses a link to
// a CN= container such as CN=Computers).
const (
	OUWebServers      = "OU=Web Servers"      // the farm's computer accounts
	OUServiceAccounts = "OU=Service Accounts" // svc-web
	OUStaff           = "OU=Staff"
	ContainerUsers    = "CN=Users"
	ContainerComputer = "CN=Computers"
)

// GPO names the lab's domain starts with (unlinked).
const (
	GPOBaseline = "Web Servers Baseline" // hardening: "Log on as a batch job" = Administrators
	GPOAppPool  = "IIS App Pool Logon"   // grants it to the farm's service account
)

// GPO is a group policy object. The lab models one setting of it, User
// Rights Assignment "Log on as a batch job" (SeBatchLogonRight): a
// Computer Configuration setting, applied by the computers in the OUs the
// GPO is linked to. The list replaces the computer's local one (where
// IIS_IUSRS, and so every app pool, holds the right); of several linked
// GPOs the one with the highest precedence wins, lists are not merged.
type GPO struct {
	Name       string   `json:"name"`
	BatchLogon []string `json:"batch_logon"` // accounts and groups granted the right
}

// AppliedPolicy is what a host's last gpupdate applied.
type AppliedPolicy struct {
	OU         string   `json:"ou"`                    // of its computer account then
	GPOs       []string `json:"gpos"`                  // linked there, by precedence
	Winner     string   `json:"winner,omitempty"`      // the GPO whose "Log on as a batch job" applies; "" = none
	BatchLogon []string `json:"batch_logon,omitempty"` // the winner's list
}

// GPUpdateResult is what one gpupdate applied on a host.
type GPUpdateResult struct {
	Policy     AppliedPolicy
	BatchRight bool   // the pool identity holds "Log on as a batch job" now
	Why        string // the policy that decided it
}

// defaultGPOs are the GPOs a fresh domain holds, none linked.
func defaultGPOs(service string) []*GPO {
	return []*GPO{
		{Name: GPOBaseline, BatchLogon: []string{`BUILTIN\Administrators`}},
		{Name: GPOAppPool, BatchLogon: []string{`BUILTIN\Administrators`, service}},
	}
}

// OUOf is the OU (or container) account a sits in: its own, or its kind's
// default.
func OUOf(a *Account) string {
	if a.OU != "" {
		return a.OU
	}
	switch a.Kind {
	case KindService:
		return OUServiceAccounts
	case KindMachine:
		return OUWebServers
	case KindGMSA:
		return DefaultGMSAOU
	}
	return ContainerUsers
}

// OUs lists the domain's OUs and containers: the defaults and any an
// account sits in or a GPO is linked to.
func (d *Directory) OUs() []string {
	out := []string{OUWebServers, OUServiceAccounts, OUStaff, ContainerUsers, ContainerComputer, DefaultGMSAOU}
	add := func(ou string) {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, ou) }) {
			out = append(out, ou)
		}
	}
	for _, a := range d.Accounts {
		add(OUOf(a))
	}
	for _, ou := range slices.Sorted(maps.Keys(d.Links)) {
		add(ou)
	}
	return out
}

// FindOU resolves ou as Windows accepts it ("OU=Web Servers,DC=corp,DC=com",
// "OU=Web Servers", "Web Servers") to one of the domain's OUs.
func (d *Directory) FindOU(ou string) (string, error) {
	s := strings.TrimSpace(ou)
	if i := strings.Index(strings.ToUpper(s), ",DC="); i >= 0 {
		s = s[:i]
	}
	if !strings.Contains(s, "=") {
		s = "OU=" + s
	}
	for _, o := range d.OUs() {
		if strings.EqualFold(o, s) {
			return o, nil
		}
	}
	return "", fmt.Errorf("OU %q: no such OU or container in the directory (have: %s)", ou, strings.Join(d.OUs(), "; "))
}

// GPO returns the GPO called name (case-insensitive), or nil.
func (d *Directory) GPO(name string) *GPO {
	for _, g := range d.GPOs {
		if strings.EqualFold(g.Name, name) {
			return g
		}
	}
	return nil
}

// LinkGPO links GPO name to ou, as New-GPLink -Target: order 0 adds it with
// the lowest precedence (New-GPLink's default), order n (1 = highest) puts
// it there. It returns the OU as found.
func (d *Directory) LinkGPO(name, ou string, order int) (string, error) {
	g, ou, err := d.gpoAndOU(name, ou)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(strings.ToUpper(ou), "CN=") {
		return "", fmt.Errorf("New-GPLink: %s is a container, not an OU: a GPO links to a site, the domain or an OU", ou)
	}
	links := d.Links[ou]
	if slices.Contains(links, g.Name) {
		return "", fmt.Errorf("New-GPLink: GPO %q is already linked to %s", g.Name, ou)
	}
	at := len(links)
	if order > 0 && order-1 < at {
		at = order - 1
	}
	if d.Links == nil {
		d.Links = map[string][]string{}
	}
	d.Links[ou] = slices.Insert(links, at, g.Name)
	return ou, nil
}

// UnlinkGPO removes the link of GPO name to ou, as Remove-GPLink.
func (d *Directory) UnlinkGPO(name, ou string) (string, error) {
	g, ou, err := d.gpoAndOU(name, ou)
	if err != nil {
		return "", err
	}
	i := slices.Index(d.Links[ou], g.Name)
	if i < 0 {
		return "", fmt.Errorf("Remove-GPLink: GPO %q is not linked to %s", g.Name, ou)
	}
	d.Links[ou] = slices.Delete(d.Links[ou], i, i+1)
	if len(d.Links[ou]) == 0 {
		delete(d.Links, ou)
	}
	return ou, nil
}

func (d *Directory) gpoAndOU(name, ou string) (*GPO, string, error) {
	g := d.GPO(name)
	if g == nil {
		var names []string
		for _, g := range d.GPOs {
			names = append(names, g.Name)
		}
		return nil, "", fmt.Errorf("GPO %q: not found (have: %s)", name, strings.Join(names, ", "))
	}
	ou, err := d.FindOU(ou)
	return g, ou, err
}

// MoveAccount puts account in ou, as Move-ADObject. It returns the OU.
func (d *Directory) MoveAccount(account, ou string) (string, error) {
	a := d.Account(account)
	if a == nil {
		return "", &NoAccountError{Name: account}
	}
	ou, err := d.FindOU(ou)
	if err != nil {
		return "", err
	}
	a.OU = ou
	return ou, nil
}

// GPUpdate applies to host the GPOs linked to its computer account's OU,
// as gpupdate /force on it: until it runs, the host keeps the policy it
// applied last (or its local one).
func (d *Directory) GPUpdate(host string) (*HostSite, error) {
	h := d.Host(host)
	if h == nil {
		return nil, fmt.Errorf("host %q: not in this farm (hosts: %s)", host, strings.Join(d.hostNames(), ", "))
	}
	h.Policy = d.PolicyFor(h)
	return h, nil
}

// PolicyFor is the policy host h would apply now.
func (d *Directory) PolicyFor(h *HostSite) *AppliedPolicy {
	ou := OUWebServers
	if m := d.Account(h.Machine); m != nil {
		ou = OUOf(m)
	}
	p := &AppliedPolicy{OU: ou, GPOs: slices.Clone(d.Links[ou])}
	if len(p.GPOs) > 0 {
		if g := d.GPO(p.GPOs[0]); g != nil {
			p.Winner, p.BatchLogon = g.Name, slices.Clone(g.BatchLogon)
		}
	}
	return p
}

// BatchRight reports whether host h's pool identity holds "Log on as a
// batch job", and why: "Deny log on as a batch job" on the host
// (IISSettings.BatchLogonRight false) beats everything; otherwise the
// list of the GPO that won at the host's last gpupdate, if any; otherwise
// its local policy, where IIS_IUSRS (every app pool) holds it.
func (d *Directory) BatchRight(h *HostSite) (bool, string) {
	if r := h.IIS.BatchLogonRight; r != nil && !*r {
		return false, "the pool identity is in \"Deny log on as a batch job\" on the host"
	}
	p := h.Policy
	if p == nil || p.Winner == "" {
		return true, "local policy: IIS_IUSRS (every app pool identity) holds \"Log on as a batch job\""
	}
	pool := h.IIS.PoolAccount(d.Service, h.Machine)
	list := strings.Join(p.BatchLogon, ", ")
	if d.granted(p.BatchLogon, pool) {
		return true, fmt.Sprintf("GPO %q (linked to %s) grants \"Log on as a batch job\" to %s", p.Winner, p.OU, list)
	}
	return false, fmt.Sprintf("GPO %q (linked to %s, the OU of %s) sets \"Log on as a batch job\" to %s only: not %s",
		p.Winner, p.OU, h.Machine, list, d.qualifiedName(pool))
}

// granted reports whether a right's list names the pool account, or
// IIS_IUSRS (to which IIS adds every pool identity).
func (d *Directory) granted(list []string, pool string) bool {
	a := d.Account(pool)
	for _, e := range list {
		if strings.EqualFold(strings.TrimPrefix(e, `BUILTIN\`), "IIS_IUSRS") {
			return true
		}
		if a != nil && d.Account(e) == a && !strings.HasPrefix(strings.ToUpper(e), `BUILTIN\`) {
			return true
		}
	}
	return false
}

func (d *Directory) qualifiedName(name string) string {
	if a := d.Account(name); a != nil {
		return d.Qualified(a)
	}
	return name
}

// Granting lists the GPOs whose "Log on as a batch job" names account,
// each with the OUs it is linked to.
func (d *Directory) Granting(account string) map[string][]string {
	out := map[string][]string{}
	for _, g := range d.GPOs {
		if d.granted(g.BatchLogon, account) {
			out[g.Name] = []string{}
		}
	}
	for _, ou := range slices.Sorted(maps.Keys(d.Links)) {
		for _, name := range d.Links[ou] {
			if _, ok := out[name]; ok {
				out[name] = append(out[name], ou)
			}
		}
	}
	return out
}

// validateGPOs checks the GPOs and their links, naming paths.
func (d *Directory) validateGPOs() error {
	var errs []error
	seen := map[string]bool{}
	for i, g := range d.GPOs {
		if k := strings.ToLower(g.Name); g.Name == "" || seen[k] {
			errs = append(errs, fmt.Errorf("gpos[%d].name %q: GPO names are unique and not empty", i, g.Name))
		} else {
			seen[k] = true
		}
	}
	for _, ou := range slices.Sorted(maps.Keys(d.Links)) {
		for j, name := range d.Links[ou] {
			if d.GPO(name) == nil {
				errs = append(errs, fmt.Errorf("gpo_links[%s][%d] %q: no such GPO", ou, j, name))
			}
		}
	}
	return errors.Join(errs...)
}
