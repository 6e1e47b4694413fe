package scenario

import (
	"context"
	"fmt"
	"github.com/krbfarm/krbfarm/lab/directory"
	"io"
)

// The large-token scenario's user: in 600 groups, where alice is in none
// worth counting.
const (
	bigUser       = "bob"
	bigUserGroups = 600
)

func addBigUser() Step {
	return Step{Windows: fmt.Sprintf(`New-ADUser %s -Enabled $true; 1..%d | %% { Add-ADGroupMember "grp-$_" %s }`, bigUser, bigUserGroups, bigUser),
		Do: func(ctx context.Context, l Lab) (string, error) {
			return fmt.Sprintf("%s is a member of %d groups", bigUser, bigUserGroups), l.AddUser(ctx, bigUser, bigUser+"-password", bigUserGroups)
		}}
}

// headerLimits is the registry edit on host, then the http.sys restart.
func headerLimits(host string, n int) Step {
	key := `HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters`
	win := fmt.Sprintf(`reg add %s /v MaxFieldLength /t REG_DWORD /d %d /f; reg add %s /v MaxRequestBytes /t REG_DWORD /d %d /f; net stop http /y; net start w3svc   # on %s`,
		key, n, key, n, host)
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		return fmt.Sprintf("http.sys restarted: MaxFieldLength %d, MaxRequestBytes %d", n, n), l.SetIIS(ctx, fill(host, l), func(s *directory.IISSettings) {
			s.MaxFieldLength, s.MaxRequestBytes = n, n
		})
	}}
}

// largeTokenSymptom samples the site as the farm's first user, then as the
// user in many groups: the first is served, the second refused everywhere.
func largeTokenSymptom(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	ok := true
	for _, user := range []string{"", bigUser} {
		s, err := l.SampleAs(ctx, user, l.SiteName(), n, false)
		if err != nil {
			return false, err
		}
		who, err := tokenSize(l, user)
		if err != nil {
			return false, err
		}
		fmt.Fprintf(out, "   %s: %s\n", who, s)
		if user == "" {
			ok = ok && s.OK()
		} else {
			ok = ok && s.AllStatus(400)
		}
	}
	return ok, nil
}

// tokenSize describes user's Authorization header, e.g.
// "bob (600 groups, Authorization header 26681 bytes)".
func tokenSize(l Lab, user string) (string, error) {
	c, err := l.UserClient(user, l.SiteName(), l.LBAddr(), false)
	if err != nil {
		return "", err
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		return "", err
	}
	groups := ""
	if c.Groups() > 0 {
		groups = fmt.Sprintf("%d groups, ", c.Groups())
	}
	return fmt.Sprintf("%-5s (%sAuthorization header %d bytes)", c.User(), groups, len("Authorization: ")+len(tok)), nil
}
