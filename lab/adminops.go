package lab

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
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
