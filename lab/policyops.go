package lab

import (
	"context"

	"github.com/krbfarm/krbfarm/lab/directory"
)

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
