package scenario

import (
	"context"
	"fmt"
	"strings"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
)

// gmsaName is the group managed service account the gmsa-rotation fix
// creates.
const gmsaName = "gmsa-web$"

// policyScenarios are the scenarios of password rotation and group
// policy scope (issue 12).
func policyScenarios() []*Scenario {
	return []*Scenario{
		{Name: "gmsa-rotation", Cause: doctor.CauseRotation, Title: "a plain account's password rotated: every keytab stale",
			Story: "<DOMAIN>\\<svc> is a plain account: its password changes only when someone changes it, and then someone must copy a new keytab to every host. The password policy comes round and its password is rotated (kvno+1). The KDC issues tickets under the new key at once; <h1> and <h2> still hold the old keytab: 401 KRB_AP_ERR_BADKEYVER on every host. The cure is not a faster keytab push but a group managed service account (gMSA): the domain rotates its password every 30 days and the hosts allowed to retrieve it fetch the new key themselves.",
			Setup: []Step{rotate("<svc>", `Set-ADAccountPassword <DOMAIN>\<svc> -Reset   # the password policy's 90 days are up`)},
			Fix: []Step{addGMSA("<h1>", "<h2>"),
				spnStep("-D", "<svc>"), spnStep("-S", `<DOMAIN>\`+gmsaName),
				poolAsGMSA("<h1>"), poolAsGMSA("<h2>"),
				rotate(gmsaName, "(30 days later) the domain rotates "+gmsaName+"'s password (ManagedPasswordIntervalInDays 30)")}},
		{Name: "gpo-scope", Cause: doctor.CauseGPOScope, Title: "the batch logon GPO linked to the accounts' OU",
			Story: "The security team links its hardening GPO \"" + directory.GPOBaseline + "\" to OU=Web Servers: its \"Log on as a batch job\" lists Administrators only, and replaces the servers' local list, where IIS_IUSRS gave every app pool the right. The web admin, knowing <DOMAIN>\\<svc> needs it, creates \"" + directory.GPOAppPool + "\" granting it and links it to OU=Service Accounts, where <svc> sits. But User Rights Assignment is a computer setting: it applies to the computers in the linked OU, and there are none in OU=Service Accounts. <h2> runs gpupdate first: its pool identity can no longer log on, WAS disables the pool (event 5021) and <h2> answers 503. <h1> will do the same at its next policy refresh (within 90 minutes).",
			Setup: []Step{linkGPO(directory.GPOBaseline, directory.OUWebServers, 0, "the hardening baseline: \"Log on as a batch job\" = Administrators"),
				linkGPO(directory.GPOAppPool, directory.OUServiceAccounts, 0, "grants <DOMAIN>\\<svc> the right, linked where <svc> sits"),
				gpupdate("<h2>")},
			Symptom: healthSymptom,
			Fix: []Step{unlinkGPO(directory.GPOAppPool, directory.OUServiceAccounts),
				linkGPO(directory.GPOAppPool, directory.OUWebServers, 1, "above the baseline: of two GPOs setting a right, the higher precedence wins"),
				gpupdate("<h1>"), gpupdate("<h2>")}},
	}
}

// rotate changes account's password (random, kvno+1) and notes which
// hosts hold which key afterwards.
func rotate(account, win string) Step {
	return Step{Windows: win + "; lab: krbfarm account rotate " + account, Do: func(ctx context.Context, l Lab) (string, error) {
		acct, states, err := l.Rotate(ctx, fill(account, l))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: new password, kvno %d; %s", acct.Name, acct.KVNO, keyLine(states)), nil
	}}
}

// keyLine says which key each host holds, e.g. "server1 fetched kvno 2".
func keyLine(states []directory.KeyState) string {
	var parts []string
	for _, k := range states {
		switch {
		case k.Current && k.Fetched:
			parts = append(parts, fmt.Sprintf("%s fetched kvno %d", k.Host, k.KVNO))
		case k.Current:
			parts = append(parts, fmt.Sprintf("%s holds kvno %d", k.Host, k.KVNO))
		default:
			parts = append(parts, fmt.Sprintf("%s still holds kvno %d (stale)", k.Host, k.KVNO))
		}
	}
	if len(parts) == 0 {
		return "no host decrypts with it"
	}
	return strings.Join(parts, ", ")
}

func addGMSA(hosts ...string) Step {
	short := strings.TrimSuffix(gmsaName, "$")
	win := fmt.Sprintf("New-ADServiceAccount %s -DNSHostName %s.<domain> -PrincipalsAllowedToRetrieveManagedPassword <M1>,<M2>; lab: krbfarm account add %s --gmsa --hosts %s",
		short, short, gmsaName, strings.Join(hosts, ","))
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		var hs []string
		for _, h := range hosts {
			hs = append(hs, fill(h, l))
		}
		acct, err := l.AddGMSA(ctx, gmsaName, hs)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s created in %s, password managed by the domain; allowed to retrieve it: %s", acct.Name, directory.OUOf(acct), strings.Join(acct.AllowedHosts, ", ")), nil
	}}
}

// spnStep is setspn -S or -D of the farm's SPN on account.
func spnStep(op, account string) Step {
	win := fmt.Sprintf("setspn %s HTTP/<fqdn> %s; lab: krbfarm setspn %s HTTP/<fqdn> '%s'", op, account, op, account)
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		if op == "-D" {
			return "Unregistering SPN ... Updated object", l.DeleteSPN(ctx, "HTTP/"+l.SiteName(), fill(account, l))
		}
		return dupNote(l.SetSPN(ctx, "HTTP/"+l.SiteName(), fill(account, l), true))
	}}
}

func poolAsGMSA(host string) Step {
	win := fmt.Sprintf(`Install-ADServiceAccount %s; Test-ADServiceAccount %s; Set-ItemProperty IIS:\AppPools\sso -Name processModel -Value @{identityType=3; userName='<DOMAIN>\%s'; password=''}   # on %s; lab: krbfarm iis %s --identity %s`,
		gmsaName, gmsaName, gmsaName, host, host, gmsaName)
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		err := l.SetIIS(ctx, fill(host, l), func(s *directory.IISSettings) { s.Identity = gmsaName })
		return "True: the pool runs as " + gmsaName + " and fetches its key itself", err
	}}
}

func linkGPO(gpo, ou string, order int, why string) Step {
	win := fmt.Sprintf(`New-GPLink -Name "%s" -Target "%s,<DC>"`, gpo, ou)
	cli := fmt.Sprintf(`krbfarm gpo link "%s" "%s"`, gpo, ou)
	if order > 0 {
		win += fmt.Sprintf(" -Order %d", order)
		cli += fmt.Sprintf(" --order %d", order)
	}
	return Step{Windows: win + "   # " + why + "; lab: " + cli, Do: func(ctx context.Context, l Lab) (string, error) {
		_, err := l.LinkGPO(ctx, gpo, ou, order)
		return "", err
	}}
}

func unlinkGPO(gpo, ou string) Step {
	win := fmt.Sprintf(`Remove-GPLink -Name "%s" -Target "%s,<DC>"; lab: krbfarm gpo unlink "%s" "%s"`, gpo, ou, gpo, ou)
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		_, err := l.UnlinkGPO(ctx, gpo, ou)
		return "", err
	}}
}

// gpupdate applies the host's policy; when its pool starts again, the LB's
// checks bring it back (waited for, bounded, by Health).
func gpupdate(host string) Step {
	return Step{Windows: "gpupdate /force   # on " + host + "; lab: krbfarm gpupdate " + host + " --force",
		Do: func(ctx context.Context, l Lab) (string, error) {
			res, err := l.GPUpdate(ctx, fill(host, l))
			if err != nil {
				return "", err
			}
			if res.BatchRight {
				l.Health(ctx)
				return "Computer Policy update has completed successfully; app pool sso started: " + res.Why, nil
			}
			return "Computer Policy update has completed successfully; event 5021: the application pool has been disabled: " + res.Why, nil
		}}
}
