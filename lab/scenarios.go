package lab

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Scenarios lists the catalogue's scenarios. Texts use placeholders filled
// in from the farm: <fqdn>, <DOMAIN>, <h1>/<h2> (the first two hosts),
// <M1>/<M2> (their machine accounts), <svc> (the shared account).
func Scenarios() []*Scenario {
	return []*Scenario{
		{Name: "healthy", Title: "the recommended farm",
			Story: "One FQDN, one shared account <DOMAIN>\\<svc> holding HTTP/<fqdn>, every app pool running as it with useAppPoolCredentials=True: every host decrypts every ticket."},
		{Name: "spn-on-machine-accounts", Cause: CauseSPNOnMachines, Title: "the SPN registered on the machine accounts",
			Story: "The admin registers the farm's SPN on each server's computer account, leaving the pools as ApplicationPoolIdentity with IIS defaults. The second setspn is refused, so only <M1> holds it: only <h1> can decrypt the tickets.",
			Setup: []Step{setIIS("<h1>", AppPoolIdentity, false), setIIS("<h2>", AppPoolIdentity, false),
				setspnD("<svc>"), setspnS("<M1>"), setspnS("<M2>")},
			Fix: []Step{setspnD("<M1>"), setspnS(`<DOMAIN>\<svc>`), setIIS("<h1>", "<svc>", true), setIIS("<h2>", "<svc>", true)}},
		{Name: "app-pool-credentials-off", Cause: CauseAppPoolCredsOff, Title: "kernel mode without useAppPoolCredentials",
			Story: "The SPN is on the shared account and the pools run as it, but useAppPoolCredentials was left at IIS's default (False): http.sys decrypts with each machine's key. 401 on every host.",
			Setup: []Step{setIIS("<h1>", "<svc>", false), setIIS("<h2>", "<svc>", false)},
			Fix:   []Step{setIIS("<h1>", "<svc>", true), setIIS("<h2>", "<svc>", true)}},
		{Name: "missing-spn", Cause: CauseMissingSPN, Title: "nobody registered the SPN",
			Story: "HTTP/<fqdn> was never registered (or was removed). The KDC has no such principal: the client gets no ticket and a browser silently falls back to NTLM.",
			Setup: []Step{setspnD("<svc>")},
			Fix:   []Step{setspnS(`<DOMAIN>\<svc>`)}},
		{Name: "alias-name", Cause: CauseAlias, Alias: "web", Title: "users browse to an alias",
			Story: "Users reach the farm as https://web.<domain>/ (a CNAME). Browsers ask for HTTP/web.<domain>, which nobody holds.",
			Fix: []Step{{Windows: `setspn -S HTTP/<alias> <DOMAIN>\<svc>`, Do: func(ctx context.Context, a *Admin) (string, error) {
				return dupNote(a.SetSPN(ctx, "HTTP/"+aliasName(a), a.Info.Service, true))
			}}}},
		{Name: "stale-keytab", Cause: CauseStaleKeytab, Title: "password reset, one host not updated",
			Story: "The shared account's password is reset (kvno goes up). The new keytab reaches <h1> but not <h2>, which still holds the old kvno.",
			Setup: []Step{resetPassword(), pushKeytab("<h1>")},
			Fix:   []Step{pushKeytab("<h2>")}},
		{Name: "clock-skew", Cause: CauseClockSkew, Title: "one host's clock is 10 minutes off",
			Story: "<h2> lost its time source and drifted 10 minutes ahead: every authenticator looks 10 minutes old there.",
			Setup: []Step{clock("<h2>", 10*time.Minute, "Set-Date (Get-Date).AddMinutes(10)   # on <h2>")},
			Fix:   []Step{clock("<h2>", 0, "w32tm /resync   # on <h2>")}},
		{Name: "enctype-mismatch", Cause: CauseEnctype, Title: "an RC4-only keytab on one host",
			Story: "<h2> was given a keytab made with ktpass /crypto RC4-HMAC-NT; the KDC issues AES256 tickets, for which that keytab has no key.",
			Setup: []Step{enctypes("<h2>", []string{"arcfour-hmac"}, `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /crypto RC4-HMAC-NT /out http.keytab   # copied to <h2>`)},
			Fix:   []Step{enctypes("<h2>", nil, `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /crypto AES256-SHA1 /out http.keytab   # copied to <h2>`)}},
		{Name: "replay-across-hosts", Cause: CauseReplay, Title: "one captured token replayed to every host",
			Story:   "An attacker captures one Negotiate token and replays it straight to the hosts. The host that saw it refuses it (KRB_AP_ERR_REPEAT); the other, with its own replay cache, accepts it.",
			Symptom: replaySymptom,
			Fix:     []Step{{Windows: "(no setting cures it: TLS end to end, Extended Protection, or a shared replay cache)", Do: func(context.Context, *Admin) (string, error) { return "", nil }}}},
		{Name: "no-batch-logon-right", Cause: CauseNoBatchRight, Title: "pool identity lacks Log on as a batch job",
			Story: "A hardening GPO puts <DOMAIN>\\<svc> in \"Deny log on as a batch job\" on <h2>. After gpupdate the pool's identity cannot log on, WAS disables the pool (event 5021) and <h2> answers 503 to everyone. An LB that checks only TCP still sees the port open and keeps sending users there; this lab's LB checks GET /healthz over HTTP, sees the 503 and takes <h2> out of rotation, so users are served, by fewer hosts.",
			Setup: []Step{batchRight("<h2>", false, `gpupdate /force; Restart-WebAppPool sso   # on <h2>, with <DOMAIN>\<svc> in "Deny log on as a batch job"`)},
			Fix:   []Step{batchRight("<h2>", true, `GPO "Log on as a batch job" += <DOMAIN>\<svc>; gpupdate /force; Start-WebAppPool sso   # on <h2>`)}, Symptom: healthSymptom},
		{Name: "large-token", Cause: CauseLargeToken, User: bigUser, Title: "a user in many groups: header over the limit",
			Story:   "bob is in 600 security groups. The KDC puts every group's SID in his tickets, so his Negotiate token is about 26 KB, base64 in an Authorization header over http.sys's MaxFieldLength (16384 bytes by default). alice, in a few groups, is served; bob gets 400 \"Request Header Too Long\" from every host.",
			Setup:   []Step{addBigUser()},
			Symptom: largeTokenSymptom,
			Fix:     []Step{headerLimits("<h1>", 65534), headerLimits("<h2>", 65534)}},
		{Name: "ntlm-fallback", Cause: CauseNTLMFallback, Browser: true, Title: "Kerberos fails, NTLM takes over",
			Story: "HTTP/<fqdn> was removed from <DOMAIN>\\<svc>. Nobody notices: browsers get KDC_ERR_S_PRINCIPAL_UNKNOWN, fall back silently to NTLM (IIS offers Negotiate and NTLM) and the site still works, each connection a DC round trip, no delegation.",
			Setup: []Step{setspnD("<svc>")},
			Fix:   []Step{setspnS(`<DOMAIN>\<svc>`), {Windows: "klist purge   # on the clients", Do: func(context.Context, *Admin) (string, error) { return "", nil }}}},
	}
}

func aliasName(a *Admin) string {
	_, dom, _ := strings.Cut(a.FQDN, ".")
	return "web." + dom
}

// fill replaces the placeholders in s for the farm a serves.
func fill(s string, a *Admin) string {
	hosts := []string{"server1", "server2"}
	for i, b := range a.Info.Backends {
		if i < 2 {
			hosts[i] = b.Name
		}
	}
	_, dom, _ := strings.Cut(a.FQDN, ".")
	netbios, _, _ := strings.Cut(a.Info.Realm, ".")
	return strings.NewReplacer("<fqdn>", a.FQDN, "<domain>", dom, "<alias>", aliasName(a), "<DOMAIN>", netbios, "<REALM>", a.Info.Realm,
		"<svc>", a.Info.Service, "<h1>", hosts[0], "<h2>", hosts[1], "<M1>", MachineAccount(hosts[0]), "<M2>", MachineAccount(hosts[1])).Replace(s)
}

func setspnS(account string) Step {
	return Step{Windows: "setspn -S HTTP/<fqdn> " + account, Do: func(ctx context.Context, a *Admin) (string, error) {
		return dupNote(a.SetSPN(ctx, "HTTP/"+a.FQDN, fill(account, a), true))
	}}
}

func setspnD(account string) Step {
	return Step{Windows: "setspn -D HTTP/<fqdn> " + account, Do: func(ctx context.Context, a *Admin) (string, error) {
		return "Unregistering SPN ... Updated object", a.DeleteSPN(ctx, "HTTP/"+a.FQDN, fill(account, a))
	}}
}

func setIIS(host, identity string, appPoolCreds bool) Step {
	win := fmt.Sprintf(`Set-ItemProperty IIS:\AppPools\sso processModel.identityType/userName=%s; appcmd set config /section:windowsAuthentication /useAppPoolCredentials:%s   # on %s`,
		identity, yes(appPoolCreds, "true", "false"), host)
	return Step{Windows: win, Do: func(ctx context.Context, a *Admin) (string, error) {
		return "", a.SetIIS(ctx, fill(host, a), func(s *IISSettings) {
			s.Identity = fill(identity, a)
			s.UseKernelMode = Bool(true)
			s.UseAppPoolCredentials = Bool(appPoolCreds)
		})
	}}
}

func batchRight(host string, ok bool, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, a *Admin) (string, error) {
		err := a.SetIIS(ctx, fill(host, a), func(s *IISSettings) { s.BatchLogonRight = Bool(ok) })
		if err == nil && ok {
			a.waitLBAgrees(ctx, a.probeHealth(ctx)) // the LB's checks bring the host back
		}
		return yes(ok, "app pool sso started", "event 5021: the application pool has been disabled"), err
	}}
}

func resetPassword() Step {
	return Step{Windows: `Set-ADAccountPassword <DOMAIN>\<svc> -Reset`, Do: func(ctx context.Context, a *Admin) (string, error) {
		acct, err := a.ResetPassword(ctx, a.Info.Service, "")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: new password, kvno %d", acct.Name, acct.KVNO), nil
	}}
}

func pushKeytab(host string) Step {
	return Step{Windows: `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /pass * /crypto AES256-SHA1 /out http.keytab; copy to ` + host,
		Do: func(ctx context.Context, a *Admin) (string, error) {
			return "keytab pushed to " + fill(host, a), a.PushKeytab(ctx, fill(host, a), nil)
		}}
}

func clock(host string, off time.Duration, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, a *Admin) (string, error) {
		return "", a.SetClockOffset(ctx, fill(host, a), off)
	}}
}

func enctypes(host string, es []string, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, a *Admin) (string, error) {
		return "", a.SetKeytabEnctypes(ctx, fill(host, a), es)
	}}
}

// replaySymptom captures one token and replays it directly to every host,
// twice to the first: REPEAT there, accepted elsewhere.
func replaySymptom(ctx context.Context, a *Admin, out io.Writer, _ int) (bool, error) {
	c, err := a.newUserClient(a.FQDN, a.Info.LB.Addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		return false, err
	}
	bs := a.Info.Backends
	order := append([]BackendInfo{bs[0]}, bs...)
	var repeat, elsewhere bool
	for i, b := range order {
		marks := a.logMarks()
		hc, err := c.Via(b.Addr)
		if err != nil {
			return false, err
		}
		res, err := hc.GetWithToken(ctx, a.hostURL(a.FQDN, b.Addr), tok)
		if err != nil {
			return false, err
		}
		reason := ""
		if res.Status != 200 {
			reason = a.reasonsSince(marks)[b.Name]
		}
		fmt.Fprintf(out, "   replay %d -> %-8s %d %s\n", i+1, b.Name, res.Status, reason)
		repeat = repeat || (i == 1 && reason == "KRB_AP_ERR_REPEAT")
		elsewhere = elsewhere || (i > 1 && res.Status == 200)
	}
	return repeat && elsewhere, nil
}
