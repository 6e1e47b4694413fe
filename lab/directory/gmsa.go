package directory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/krbfarm/krbfarm/lab/kdc"
)

// KindGMSA is a group managed service account: the domain sets and
// rotates its password (every 30 days by default) and the hosts named in
// its PrincipalsAllowedToRetrieveManagedPassword fetch the current one
// themselves. Its name ends with '$', as a computer account's.
const KindGMSA = "gmsa"

// DefaultGMSAOU is where New-ADServiceAccount puts a gMSA: a container,
// not an OU.
const DefaultGMSAOU = "CN=Managed Service Accounts"

// Managed reports whether the domain manages a's password (a gMSA).
func (a *Account) Managed() bool { return a.Kind == KindGMSA }

// AddGMSA creates gMSA name (e.g. gmsa-web$, the '$' added if missing)
// whose password the computer accounts of hosts may retrieve, as
// New-ADServiceAccount -PrincipalsAllowedToRetrieveManagedPassword. Its
// password is random and no one types it anywhere.
func (d *Directory) AddGMSA(name string, hosts []string) (*Account, error) {
	if !strings.HasSuffix(name, "$") {
		name += "$"
	}
	if err := kdc.CheckAccountName("name", name, kdc.KindMachine); err != nil {
		return nil, err
	}
	if a := d.Account(name); a != nil {
		return nil, fmt.Errorf("New-ADServiceAccount %s: %s already exists", name, d.Qualified(a))
	}
	allowed, err := d.machinesOf(hosts)
	if err != nil {
		return nil, err
	}
	a := &Account{Name: name, Kind: KindGMSA, Password: RandomPassword(), KVNO: 1, Enctypes: DefaultEnctypes,
		AllowedHosts: allowed, OU: DefaultGMSAOU}
	d.Accounts = append(d.Accounts, a)
	return a, nil
}

// machinesOf maps host names (server1, or SERVER1$) to their computer
// accounts, refusing a host the farm does not have.
func (d *Directory) machinesOf(hosts []string) ([]string, error) {
	var out []string
	for _, n := range hosts {
		h := d.Host(strings.TrimSuffix(n, "$"))
		if h == nil {
			return nil, fmt.Errorf("host %q: not in this farm (hosts: %s)", n, strings.Join(d.hostNames(), ", "))
		}
		if !slices.Contains(out, h.Machine) {
			out = append(out, h.Machine)
		}
	}
	return out, nil
}

func (d *Directory) hostNames() []string {
	var out []string
	for _, h := range d.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// MayRetrieve reports whether host h may retrieve gMSA a's password
// (Test-ADServiceAccount on h answers True).
func (a *Account) MayRetrieve(h *HostSite) bool {
	return a.Managed() && slices.ContainsFunc(a.AllowedHosts, func(m string) bool { return strings.EqualFold(m, h.Machine) })
}

// heldCred is the password and kvno host h decrypts a's tickets with: a
// machine's own and a gMSA's it may retrieve are always current (the host
// fetches them itself); any other account's is what was last pushed to h,
// or current when none was (an identity typed into the pool settings).
func heldCred(h *HostSite, a *Account) Cred {
	c, ok := h.Creds[a.Name]
	if a.Kind == KindMachine && a.Name == h.Machine || a.MayRetrieve(h) || !ok {
		c = Cred{Password: a.Password, KVNO: a.KVNO}
		h.Creds[a.Name] = c
	}
	return c
}

// KeyState is what one host holds for the account it decrypts with.
type KeyState struct {
	Host    string
	Account string
	KVNO    int  // the kvno of the key the host holds
	Current bool // it is the account's current key
	Fetched bool // the host fetches it itself (a machine's own, a gMSA)
}

// KeyStates lists, for every host whose pool decrypts with account, the
// key it holds now: after a rotation, the hosts with Current false hold a
// stale keytab until one is pushed to them.
func (d *Directory) KeyStates(account string) []KeyState {
	a := d.Account(account)
	if a == nil {
		return nil
	}
	var out []KeyState
	for _, h := range d.Hosts {
		if !strings.EqualFold(h.IIS.DecryptingAccount(d.Service, h.Machine), a.Name) {
			continue
		}
		c := heldCred(h, a)
		out = append(out, KeyState{Host: h.Name, Account: a.Name, KVNO: c.KVNO, Current: c.KVNO == a.KVNO && c.Password == a.Password,
			Fetched: a.MayRetrieve(h) || a.Name == h.Machine})
	}
	return out
}

// Rotate gives account a new random password, kvno+1, as the domain does
// for a gMSA every ManagedPasswordIntervalInDays (30) or a password policy
// makes an admin do for a plain account.
func (d *Directory) Rotate(account string) (*Account, error) {
	return d.ResetPassword(account, "")
}

// RetrieveError is a host asked to run as a gMSA whose password it may
// not retrieve (Test-ADServiceAccount answers False there).
type RetrieveError struct{ Host, Account, Qualified string }

func (e *RetrieveError) Error() string {
	return fmt.Sprintf("%s may not retrieve the managed password of %s (Test-ADServiceAccount: False): "+
		"add %s to its PrincipalsAllowedToRetrieveManagedPassword (Set-ADServiceAccount; krbfarm account add %s --gmsa --hosts ...)",
		e.Host, e.Qualified, MachineAccount(e.Host), e.Account)
}

// CheckPoolIdentity refuses a pool identity host h cannot log on as: a
// gMSA h may not retrieve the password of.
func (d *Directory) CheckPoolIdentity(h *HostSite) error {
	name := h.IIS.PoolAccount(d.Service, h.Machine)
	a := d.Account(name)
	if a == nil {
		return &NoAccountError{Name: name}
	}
	if a.Managed() && !a.MayRetrieve(h) {
		return &RetrieveError{Host: h.Name, Account: a.Name, Qualified: d.Qualified(a)}
	}
	return nil
}
