package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// SetSPN registers spn on account, as setspn -S (check) or -A (no check).
// A refused duplicate returns *directory.DuplicateSPNError and changes nothing.
func (a *Admin) SetSPN(ctx context.Context, spn, account string, check bool) error {
	return a.Update(ctx, func(d *directory.Directory) error {
		_, err := d.AddSPN(spn, account, check)
		return err
	})
}

// DeleteSPN removes spn from account, as setspn -D.
func (a *Admin) DeleteSPN(ctx context.Context, spn, account string) error {
	return a.Update(ctx, func(d *directory.Directory) error {
		_, err := d.DeleteSPN(spn, account)
		return err
	})
}

// ResetPassword gives account a new password ("" = random) and kvno+1.
// A machine account's own host follows at once (Windows machines change
// their own passwords); hosts that use a shared account keep the old key
// until the new keytab is pushed to them (PushKeytab).
func (a *Admin) ResetPassword(ctx context.Context, account, password string) (*directory.Account, error) {
	var out directory.Account
	err := a.Update(ctx, func(d *directory.Directory) error {
		acct, err := d.ResetPassword(account, password)
		if err != nil {
			return err
		}
		if acct.Kind == directory.KindUser { // users are not in directory.SyncKDC's set: change the KDC's key here
			if err := a.realm.ChangePassword(ctx, acct.Name, acct.Password, nil); err != nil {
				return err
			}
		}
		out = *acct
		return nil
	})
	return &out, err
}

// PushKeytab gives host the current keys of every account it may use, and
// optionally the enctypes its keytab holds (nil = the account's).
func (a *Admin) PushKeytab(ctx context.Context, host string, enctypes []string) error {
	return a.updateHost(ctx, host, func(d *directory.Directory, h *directory.HostSite) error {
		for name := range h.Creds {
			if acct := d.Account(name); acct != nil {
				h.Creds[name] = directory.Cred{Password: acct.Password, KVNO: acct.KVNO}
			}
		}
		h.KeytabEnctypes = enctypes
		return nil
	})
}

// SetKeytabEnctypes gives host a keytab with only these enctypes, at the
// keys it already holds (e.g. an RC4-only keytab from an old ktpass).
func (a *Admin) SetKeytabEnctypes(ctx context.Context, host string, enctypes []string) error {
	return a.updateHost(ctx, host, func(_ *directory.Directory, h *directory.HostSite) error {
		h.KeytabEnctypes = enctypes
		return nil
	})
}

// SetIIS changes a host's identity / useKernelMode / useAppPoolCredentials,
// header limits or extendedProtection (refused, unchanged, if invalid).
// Setting an identity stores its current password in the pool (as typing it
// into IIS Manager does).
func (a *Admin) SetIIS(ctx context.Context, host string, fn func(*directory.IISSettings)) error {
	return a.updateHost(ctx, host, func(d *directory.Directory, h *directory.HostSite) error {
		fn(&h.IIS)
		if err := h.IIS.Validate(""); err != nil {
			return err
		}
		if err := h.IIS.ExtendedProtection.Validate(); err != nil {
			return fmt.Errorf("host %s: %w", host, err)
		}
		if err := d.CheckPoolIdentity(h); err != nil {
			return err
		}
		acct := d.Account(h.IIS.PoolAccount(d.Service, h.Machine))
		if _, ok := h.Creds[acct.Name]; !ok {
			h.Creds[acct.Name] = directory.Cred{Password: acct.Password, KVNO: acct.KVNO}
		}
		return nil
	})
}

// SetClockOffset sets a host's clock error (its view of the time).
func (a *Admin) SetClockOffset(ctx context.Context, host string, off time.Duration) error {
	return a.updateHost(ctx, host, func(_ *directory.Directory, h *directory.HostSite) error {
		h.ClockOffset = off
		return nil
	})
}

func (a *Admin) updateHost(ctx context.Context, host string, fn func(*directory.Directory, *directory.HostSite) error) error {
	return a.Update(ctx, func(d *directory.Directory) error {
		h := d.Host(host)
		if h == nil {
			return fmt.Errorf("host %q: not in this farm (hosts: %s)", host, hostNames(d))
		}
		return fn(d, h)
	})
}

// ExportKeytab writes account's current keys to path (0600), as ktpass.
func (a *Admin) ExportKeytab(account, path string) (*directory.Account, error) {
	if err := a.refuseExternal(); err != nil {
		return nil, err
	}
	d, err := a.Directory()
	if err != nil {
		return nil, err
	}
	acct := d.Account(account)
	if acct == nil {
		return nil, &directory.NoAccountError{Name: account}
	}
	kt, err := directory.AccountKeytab(d.Realm, acct, directory.Cred{Password: acct.Password, KVNO: acct.KVNO}, acct.Enctypes)
	if err != nil {
		return nil, err
	}
	return acct, directory.WriteKeytab(kt, path)
}

func hostNames(d *directory.Directory) string {
	s := ""
	for i, h := range d.Hosts {
		if i > 0 {
			s += ", "
		}
		s += h.Name
	}
	return s
}

// writeHostNTLMUsers rewrites a host's ntlm_users from the directory's
// users (as NTLM checks against the DC's current hash), if it has one.
func writeHostNTLMUsers(d *directory.Directory, h hostRef) error {
	path := filepath.Join(h.dir, "ntlm_users")
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	return backend.WriteNTLMUsers(path, d.UserPasswords())
}

// AddUser creates a user account with password, a member of groups
// security groups (New-ADUser, then Add-ADGroupMember for each group): its
// service tickets carry the groups' SIDs. name must follow sAMAccountName
// rules and password hold no control character; an account of that name
// (case-insensitive, as AD) must not exist.
func (a *Admin) AddUser(ctx context.Context, name, password string, groups int) error {
	if err := kdc.CheckAccountName("name", name, kdc.KindUser); err != nil {
		return err // before the password, which may be made from the name
	}
	if err := kdc.CheckPassword("password", password); err != nil {
		return err
	}
	if groups < 0 {
		return fmt.Errorf("groups %d: want 0 or more", groups)
	}
	return a.Update(ctx, func(d *directory.Directory) error {
		if acct := d.Account(name); acct != nil {
			return fmt.Errorf("add user %s: %w", name, &directory.AccountExistsError{Name: name, Existing: d.Qualified(acct), Kind: acct.Kind})
		}
		if err := a.realm.AddPrincipal(ctx, name, password); err != nil {
			return fmt.Errorf("add user %s: %w", name, err)
		}
		d.Accounts = append(d.Accounts, &directory.Account{Name: name, Kind: directory.KindUser, Password: password, KVNO: 1,
			Enctypes: directory.DefaultEnctypes, Groups: groups})
		return nil
	})
}

// Unmanaged lists the KDC's principals the lab did not create (made with
// kadmin by whoever shares the KDC), without @REALM. The lab never changes
// or deletes them; `krbfarm kinit` and `doctor --user` log in as them with
// Admin.Password.
//
// On a KDC the lab does not administer (Config.KDC without Kadmin) it
// cannot list them, and returns none.
func (a *Admin) Unmanaged(ctx context.Context) ([]string, error) {
	if a.Info.ExternalKDC && a.Info.Kadmin == "" {
		return nil, nil
	}
	d, err := a.Directory()
	if err != nil {
		return nil, err
	}
	owned, err := directory.Owned(a.realm)
	if err != nil {
		return nil, err
	}
	have, err := a.realm.Principals(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range have {
		_, mine := owned[p]
		if acct := d.Account(p); acct != nil && acct.Kind == directory.KindUser && !strings.Contains(p, "/") {
			mine = true
		}
		if !mine && !kdc.SystemPrincipal(p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// outsideCredentials is the password for user when the directory does not
// hold it: Admin.Password, if set.
func (a *Admin) outsideCredentials(user string) (string, error) {
	if a.Password == "" {
		return "", &directory.NoAccountError{Name: user, Outside: true}
	}
	return a.Password, nil
}

// AddGMSA creates a group managed service account whose password the
// given hosts' computer accounts may retrieve, as New-ADServiceAccount
// -PrincipalsAllowedToRetrieveManagedPassword. The KDC gets its principal
// at once; a host uses it once its pool identity is set to it (SetIIS).
func (a *Admin) AddGMSA(ctx context.Context, name string, hosts []string) (*directory.Account, error) {
	var out directory.Account
	err := a.Update(ctx, func(d *directory.Directory) error {
		acct, err := d.AddGMSA(name, hosts)
		if err == nil {
			out = *acct
		}
		return err
	})
	return &out, err
}

// Rotate gives account a new random password and kvno+1, as the domain
// does to a gMSA every 30 days (or an admin to a plain account under a
// password policy), and reports the key each host decrypting with it
// holds afterwards: hosts allowed to retrieve a gMSA's password fetch the
// new key (their keytab is rewritten and reloaded); hosts on a plain
// account keep the old one until 'keytab push'.
func (a *Admin) Rotate(ctx context.Context, account string) (*directory.Account, []directory.KeyState, error) {
	acct, err := a.ResetPassword(ctx, account, "")
	if err != nil {
		return nil, nil, err
	}
	d, err := a.Directory()
	if err != nil {
		return acct, nil, err
	}
	return acct, d.KeyStates(acct.Name), nil
}

// LinkGPO links a GPO to an OU (New-GPLink -Order; 0 = last). Hosts apply
// it at their next gpupdate.
func (a *Admin) LinkGPO(ctx context.Context, gpo, ou string, order int) (string, error) {
	var got string
	err := a.Update(ctx, func(d *directory.Directory) (err error) {
		got, err = d.LinkGPO(gpo, ou, order)
		return err
	})
	return got, err
}

// UnlinkGPO removes a GPO's link to an OU (Remove-GPLink).
func (a *Admin) UnlinkGPO(ctx context.Context, gpo, ou string) (string, error) {
	var got string
	err := a.Update(ctx, func(d *directory.Directory) (err error) {
		got, err = d.UnlinkGPO(gpo, ou)
		return err
	})
	return got, err
}

// MoveAccount moves an account to an OU (Move-ADObject).
func (a *Admin) MoveAccount(ctx context.Context, account, ou string) (string, error) {
	var got string
	err := a.Update(ctx, func(d *directory.Directory) (err error) {
		got, err = d.MoveAccount(account, ou)
		return err
	})
	return got, err
}

// GPUpdate applies to host the GPOs linked to its computer account's OU
// (gpupdate /force): its pool starts or stops (5021) as the resulting
// "Log on as a batch job" says.
func (a *Admin) GPUpdate(ctx context.Context, host string) (directory.GPUpdateResult, error) {
	var res directory.GPUpdateResult
	err := a.Update(ctx, func(d *directory.Directory) error {
		h, err := d.GPUpdate(host)
		if err != nil {
			return err
		}
		res.Policy = *h.Policy
		res.BatchRight, res.Why = d.BatchRight(h)
		return nil
	})
	return res, err
}
