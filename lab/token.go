package lab

import (
	"context"
	"fmt"
	"io"
)

// AddUser creates a user account with password, a member of groups
// security groups (New-ADUser, then Add-ADGroupMember for each group): its
// service tickets carry the groups' SIDs. name must follow sAMAccountName
// rules and password hold no control character; an account of that name
// (case-insensitive, as AD) must not exist.
func (a *Admin) AddUser(ctx context.Context, name, password string, groups int) error {
	if err := checkAccountName("name", name, KindUser); err != nil {
		return err // before the password, which may be made from the name
	}
	if err := checkPassword("password", password); err != nil {
		return err
	}
	if groups < 0 {
		return fmt.Errorf("groups %d: want 0 or more", groups)
	}
	return a.Update(ctx, func(d *Directory) error {
		if acct := d.Account(name); acct != nil {
			return fmt.Errorf("add user %s: %s already exists", name, d.Qualified(acct))
		}
		if err := a.realm.AddPrincipal(ctx, name, password); err != nil {
			return fmt.Errorf("add user %s: %w", name, err)
		}
		d.Accounts = append(d.Accounts, &Account{Name: name, Kind: KindUser, Password: password, KVNO: 1,
			Enctypes: defaultEnctypes, Groups: groups})
		return nil
	})
}

// The large-token scenario's user: in 600 groups, where alice is in none
// worth counting.
const (
	bigUser       = "bob"
	bigUserGroups = 600
)

func addBigUser() Step {
	return Step{Windows: fmt.Sprintf(`New-ADUser %s -Enabled $true; 1..%d | %% { Add-ADGroupMember "grp-$_" %s }`, bigUser, bigUserGroups, bigUser),
		Do: func(ctx context.Context, a *Admin) (string, error) {
			return fmt.Sprintf("%s is a member of %d groups", bigUser, bigUserGroups), a.AddUser(ctx, bigUser, bigUser+"-password", bigUserGroups)
		}}
}

// headerLimits is the registry edit on host, then the http.sys restart.
func headerLimits(host string, n int) Step {
	key := `HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters`
	win := fmt.Sprintf(`reg add %s /v MaxFieldLength /t REG_DWORD /d %d /f; reg add %s /v MaxRequestBytes /t REG_DWORD /d %d /f; net stop http /y; net start w3svc   # on %s`,
		key, n, key, n, host)
	return Step{Windows: win, Do: func(ctx context.Context, a *Admin) (string, error) {
		return fmt.Sprintf("http.sys restarted: MaxFieldLength %d, MaxRequestBytes %d", n, n), a.SetIIS(ctx, fill(host, a), func(s *IISSettings) {
			s.MaxFieldLength, s.MaxRequestBytes = n, n
		})
	}}
}

// largeTokenSymptom samples the site as the farm's first user, then as the
// user in many groups: the first is served, the second refused everywhere.
func largeTokenSymptom(ctx context.Context, a *Admin, out io.Writer, n int) (bool, error) {
	ok := true
	for _, user := range []string{"", bigUser} {
		s, err := a.sampleLB(ctx, user, a.FQDN, n, false)
		if err != nil {
			return false, err
		}
		who, err := a.tokenSize(user)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(out, "   %s: %s\n", who, s)
		if user == "" {
			ok = ok && s.OK()
		} else {
			ok = ok && allStatus(s, 400)
		}
	}
	return ok, nil
}

// tokenSize describes user's Authorization header, e.g.
// "bob (600 groups, Authorization header 26681 bytes)".
func (a *Admin) tokenSize(user string) (string, error) {
	c, err := a.userClient(user, a.FQDN, a.Info.LB.Addr, false)
	if err != nil {
		return "", err
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		return "", err
	}
	groups := ""
	if c.cfg.Groups > 0 {
		groups = fmt.Sprintf("%d groups, ", c.cfg.Groups)
	}
	return fmt.Sprintf("%-5s (%sAuthorization header %d bytes)", c.cfg.User, groups, len("Authorization: ")+len(tok)), nil
}

func allStatus(s Sample, status int) bool {
	for _, o := range s.Outcomes {
		if o.Status != status {
			return false
		}
	}
	return len(s.Outcomes) > 0 && s.Errors == 0 && s.TicketError == ""
}
