package scenario

import (
	"context"
	"fmt"
	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"io"
	"strings"
	"time"
)

// Scenarios lists the catalogue's scenarios. Texts use placeholders filled
// in from the farm: <fqdn>, <DOMAIN>, <h1>/<h2> (the first two hosts),
// <M1>/<M2> (their machine accounts), <svc> (the shared account), <DC>
// (the domain's DN, DC=krbfarm,DC=localhost).
func All() []*Scenario {
	all := []*Scenario{
		{Name: "healthy", Title: "the recommended farm",
			Story: "One FQDN, one shared account <DOMAIN>\\<svc> holding HTTP/<fqdn>, every app pool running as it with useAppPoolCredentials=True: every host decrypts every ticket."},
		{Name: "spn-on-machine-accounts", Cause: doctor.CauseSPNOnMachines, Title: "the SPN registered on the machine accounts",
			Story: "The admin registers the farm's SPN on each server's computer account, leaving the pools as ApplicationPoolIdentity with IIS defaults. The second setspn is refused, so only <M1> holds it: only <h1> can decrypt the tickets.",
			Setup: []Step{setIIS("<h1>", directory.AppPoolIdentity, false), setIIS("<h2>", directory.AppPoolIdentity, false),
				setspnD("<svc>"), setspnS("<M1>"), setspnS("<M2>")},
			Fix: []Step{setspnD("<M1>"), setspnS(`<DOMAIN>\<svc>`), setIIS("<h1>", "<svc>", true), setIIS("<h2>", "<svc>", true)}},
		{Name: "app-pool-credentials-off", Cause: doctor.CauseAppPoolCredsOff, Title: "kernel mode without useAppPoolCredentials",
			Story: "The SPN is on the shared account and the pools run as it, but useAppPoolCredentials was left at IIS's default (False): http.sys decrypts with each machine's key. 401 on every host.",
			Setup: []Step{setIIS("<h1>", "<svc>", false), setIIS("<h2>", "<svc>", false)},
			Fix:   []Step{setIIS("<h1>", "<svc>", true), setIIS("<h2>", "<svc>", true)}},
		{Name: "missing-spn", Cause: doctor.CauseMissingSPN, Title: "nobody registered the SPN",
			Story: "HTTP/<fqdn> was never registered (or was removed). The KDC has no such principal: the client gets no ticket and a browser silently falls back to NTLM.",
			Setup: []Step{setspnD("<svc>")},
			Fix:   []Step{setspnS(`<DOMAIN>\<svc>`)}},
		{Name: "alias-name", Cause: doctor.CauseAlias, Alias: "web", Title: "users browse to an alias",
			Story: "Users reach the farm as https://web.<domain>/ (a CNAME). Browsers ask for HTTP/web.<domain>, which nobody holds.",
			Fix: []Step{{Windows: `setspn -S HTTP/<alias> <DOMAIN>\<svc>`, Do: func(ctx context.Context, l Lab) (string, error) {
				return dupNote(l.SetSPN(ctx, "HTTP/"+aliasName(l), l.ServiceAccount(), true))
			}}}},
		{Name: "stale-keytab", Cause: doctor.CauseStaleKeytab, Title: "password reset, one host not updated",
			Story: "The shared account's password is reset (kvno goes up). The new keytab reaches <h1> but not <h2>, which still holds the old kvno.",
			Setup: []Step{resetPassword(), pushKeytab("<h1>")},
			Fix:   []Step{pushKeytab("<h2>")}},
		{Name: "clock-skew", Cause: doctor.CauseClockSkew, Title: "one host's clock is 10 minutes off",
			Story: "<h2> lost its time source and drifted 10 minutes ahead: every authenticator looks 10 minutes old there.",
			Setup: []Step{clock("<h2>", 10*time.Minute, "Set-Date (Get-Date).AddMinutes(10)   # on <h2>")},
			Fix:   []Step{clock("<h2>", 0, "w32tm /resync   # on <h2>")}},
		{Name: "enctype-mismatch", Cause: doctor.CauseEnctype, Title: "an RC4-only keytab on one host",
			Story: "<h2> was given a keytab made with ktpass /crypto RC4-HMAC-NT; the KDC issues AES256 tickets, for which that keytab has no key.",
			Setup: []Step{enctypes("<h2>", []string{"arcfour-hmac"}, `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /crypto RC4-HMAC-NT /out http.keytab   # copied to <h2>`)},
			Fix:   []Step{enctypes("<h2>", nil, `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /crypto AES256-SHA1 /out http.keytab   # copied to <h2>`)}},
		{Name: "replay-across-hosts", Cause: doctor.CauseReplay, Title: "one captured token replayed to every host",
			Story:   "An attacker captures one Negotiate token and replays it straight to the hosts. The host that saw it refuses it (KRB_AP_ERR_REPEAT); the other, with its own replay cache, accepts it.",
			Symptom: replaySymptom, NoCure: true,
			Fix: []Step{{Windows: "(no setting cures it: TLS end to end, Extended Protection, or a shared replay cache)", Do: func(context.Context, Lab) (string, error) { return "", nil }}}},
		{Name: "no-batch-logon-right", Cause: doctor.CauseNoBatchRight, Title: "pool identity lacks Log on as a batch job",
			Story: "A hardening GPO puts <DOMAIN>\\<svc> in \"Deny log on as a batch job\" on <h2>. After gpupdate the pool's identity cannot log on, WAS disables the pool (event 5021) and <h2> answers 503 to everyone. An LB that checks only TCP still sees the port open and keeps sending users there; this lab's LB checks GET /healthz over HTTP, sees the 503 and takes <h2> out of rotation, so users are served, by fewer hosts.",
			Setup: []Step{batchRight("<h2>", false, `gpupdate /force; Restart-WebAppPool sso   # on <h2>, with <DOMAIN>\<svc> in "Deny log on as a batch job"`)},
			Fix:   []Step{batchRight("<h2>", true, `GPO "Log on as a batch job" += <DOMAIN>\<svc>; gpupdate /force; Start-WebAppPool sso   # on <h2>`)}, Symptom: healthSymptom},
		{Name: "large-token", Cause: doctor.CauseLargeToken, User: bigUser, Title: "a user in many groups: header over the limit",
			Story:   "bob is in 600 security groups. The KDC puts every group's SID in his tickets, so his Negotiate token is about 26 KB, base64 in an Authorization header over http.sys's MaxFieldLength (16384 bytes by default). alice, in a few groups, is served; bob gets 400 \"Request Header Too Long\" from every host.",
			Setup:   []Step{addBigUser()},
			Symptom: largeTokenSymptom,
			Fix:     []Step{headerLimits("<h1>", 65534), headerLimits("<h2>", 65534)}},
		{Name: "ntlm-fallback", Cause: doctor.CauseNTLMFallback, Browser: true, Title: "Kerberos fails, NTLM takes over",
			Story: "HTTP/<fqdn> was removed from <DOMAIN>\\<svc>. Nobody notices: browsers get KDC_ERR_S_PRINCIPAL_UNKNOWN, fall back silently to NTLM (IIS offers Negotiate and NTLM) and the site still works, each connection a DC round trip, no delegation.",
			Setup: []Step{setspnD("<svc>")},
			Fix:   []Step{setspnS(`<DOMAIN>\<svc>`), {Windows: "klist purge   # on the clients", Do: func(context.Context, Lab) (string, error) { return "", nil }}}},
		{Name: "extended-protection-offload", Cause: doctor.CauseEPA, Title: "Extended Protection behind a TLS-terminating LB",
			Story: "A hardening guide sets Extended Protection to Require on every host. Windows clients bind each Kerberos token to the TLS certificate they see: the load balancer's, since TLS ends there. The hosts compare the binding with their own channel (plain HTTP behind the LB), find no match and refuse every token: 401 on every host, EPA_CHANNEL_BINDING_MISMATCH, security event 4625 0xC000035B.",
			Setup: []Step{epa("<h1>", backend.ExtendedProtection{TokenChecking: backend.TokenCheckingRequire}),
				epa("<h2>", backend.ExtendedProtection{TokenChecking: backend.TokenCheckingRequire})},
			Fix: []Step{epa("<h1>", epaProxy), epa("<h2>", epaProxy)}},
		l7Pooling(),
	}
	return append(all, policyScenarios()...)
}

// epaProxy is http.sys's setting for a host behind a TLS-terminating proxy:
// tokens must still carry bindings, but the host checks the ticket's SPN
// against its list (service binding) instead of the certificate.
var epaProxy = backend.ExtendedProtection{TokenChecking: backend.TokenCheckingRequire,
	Flags: []string{backend.EPAFlagProxy}, SPNs: []string{"HTTP/<fqdn>"}}

// epa sets a host's extendedProtection, shown as appcmd and krbfarm iis.
func epa(host string, e backend.ExtendedProtection) Step {
	const section = `appcmd set config "Default Web Site/sso" /section:system.webServer/security/authentication/windowsAuthentication`
	win := fmt.Sprintf(`%s /extendedProtection.tokenChecking:%s`, section, e.TokenChecking)
	cli := fmt.Sprintf("krbfarm iis %s --tokenChecking %s", host, e.TokenChecking)
	if len(e.Flags) > 0 {
		win += fmt.Sprintf(` /extendedProtection.flags:%s /+"extendedProtection.[name='%s']"`, strings.Join(e.Flags, ","), strings.Join(e.SPNs, ","))
		cli += fmt.Sprintf(" --epaFlags %s --epaSpn %s", strings.Join(e.Flags, ","), strings.Join(e.SPNs, ","))
	}
	tmplSPNs := e.SPNs
	return Step{Windows: win + "   # on " + host + "; lab: " + cli, Do: func(ctx context.Context, l Lab) (string, error) {
		e := e
		e.SPNs = make([]string, len(e.SPNs)) // the template's, filled in for this farm
		for i, spn := range tmplSPNs {
			e.SPNs[i] = fill(spn, l)
		}
		return "", l.SetIIS(ctx, fill(host, l), func(s *directory.IISSettings) { s.ExtendedProtection = e })
	}}
}

func aliasName(l Lab) string {
	_, dom, _ := strings.Cut(l.SiteName(), ".")
	return "web." + dom
}

// fill replaces the placeholders in s for the farm a serves.
func fill(s string, l Lab) string {
	hosts := []string{"server1", "server2"}
	for i, b := range l.Hosts() {
		if i < 2 {
			hosts[i] = b.Name
		}
	}
	_, dom, _ := strings.Cut(l.SiteName(), ".")
	netbios, _, _ := strings.Cut(l.RealmName(), ".")
	dc := "DC=" + strings.ReplaceAll(dom, ".", ",DC=")
	return strings.NewReplacer("<fqdn>", l.SiteName(), "<domain>", dom, "<DC>", dc, "<alias>", aliasName(l), "<DOMAIN>", netbios, "<REALM>", l.RealmName(),
		"<svc>", l.ServiceAccount(), "<h1>", hosts[0], "<h2>", hosts[1], "<M1>", directory.MachineAccount(hosts[0]), "<M2>", directory.MachineAccount(hosts[1])).Replace(s)
}

func setspnS(account string) Step {
	return Step{Windows: "setspn -S HTTP/<fqdn> " + account, Do: func(ctx context.Context, l Lab) (string, error) {
		return dupNote(l.SetSPN(ctx, "HTTP/"+l.SiteName(), fill(account, l), true))
	}}
}

func setspnD(account string) Step {
	return Step{Windows: "setspn -D HTTP/<fqdn> " + account, Do: func(ctx context.Context, l Lab) (string, error) {
		return "Unregistering SPN ... Updated object", l.DeleteSPN(ctx, "HTTP/"+l.SiteName(), fill(account, l))
	}}
}

func setIIS(host, identity string, appPoolCreds bool) Step {
	win := fmt.Sprintf(`Set-ItemProperty IIS:\AppPools\sso processModel.identityType/userName=%s; appcmd set config /section:windowsAuthentication /useAppPoolCredentials:%s   # on %s`,
		identity, yes(appPoolCreds, "true", "false"), host)
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		return "", l.SetIIS(ctx, fill(host, l), func(s *directory.IISSettings) {
			s.Identity = fill(identity, l)
			s.UseKernelMode = directory.Bool(true)
			s.UseAppPoolCredentials = directory.Bool(appPoolCreds)
		})
	}}
}

func batchRight(host string, ok bool, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		err := l.SetIIS(ctx, fill(host, l), func(s *directory.IISSettings) { s.BatchLogonRight = directory.Bool(ok) })
		if err == nil && ok {
			l.Health(ctx) // the LB's checks bring the host back
		}
		return yes(ok, "app pool sso started", "event 5021: the application pool has been disabled"), err
	}}
}

func resetPassword() Step {
	return Step{Windows: `Set-ADAccountPassword <DOMAIN>\<svc> -Reset`, Do: func(ctx context.Context, l Lab) (string, error) {
		acct, err := l.ResetPassword(ctx, l.ServiceAccount(), "")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: new password, kvno %d", acct.Name, acct.KVNO), nil
	}}
}

func pushKeytab(host string) Step {
	return Step{Windows: `ktpass /princ HTTP/<fqdn>@<REALM> /mapuser <DOMAIN>\<svc> /pass * /crypto AES256-SHA1 /out http.keytab; copy to ` + host,
		Do: func(ctx context.Context, l Lab) (string, error) {
			return "keytab pushed to " + fill(host, l), l.PushKeytab(ctx, fill(host, l), nil)
		}}
}

func clock(host string, off time.Duration, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		return "", l.SetClockOffset(ctx, fill(host, l), off)
	}}
}

func enctypes(host string, es []string, win string) Step {
	return Step{Windows: win, Do: func(ctx context.Context, l Lab) (string, error) {
		return "", l.SetKeytabEnctypes(ctx, fill(host, l), es)
	}}
}

// replaySymptom captures one token and replays it directly to every host,
// twice to the first: REPEAT there, accepted elsewhere.
func replaySymptom(ctx context.Context, l Lab, out io.Writer, _ int) (bool, error) {
	c, err := l.UserClient("", l.SiteName(), l.LBAddr(), false)
	if err != nil {
		return false, err
	}
	defer c.Close()
	tok, err := c.Token()
	if err != nil {
		return false, err
	}
	bs := l.Hosts()
	order := append([]doctor.Host{bs[0]}, bs...)
	var repeat, elsewhere bool
	for i, b := range order {
		marks := l.LogMarks()
		hc, err := c.Via(b.Addr)
		if err != nil {
			return false, err
		}
		res, err := hc.GetWithToken(ctx, l.HostURL(l.SiteName(), b.Addr), tok)
		if err != nil {
			return false, err
		}
		reason := ""
		if res.Status != 200 {
			reason = l.ReasonsSince(marks)[b.Name]
		}
		fmt.Fprintf(out, "   replay %d -> %-8s %d %s\n", i+1, b.Name, res.Status, reason)
		repeat = repeat || (i == 1 && reason == "KRB_AP_ERR_REPEAT")
		elsewhere = elsewhere || (i > 1 && res.Status == 200)
	}
	return repeat && elsewhere, nil
}

// healthSymptom shows what the LB's HTTP health check sees before the
// usual sample: a host whose app pool is stopped answers /healthz with
// 503, so an HTTP-checking LB takes it out of rotation and users are
// served by the others (fewer hosts, no error); a TCP-checking LB keeps
// sending users there and they get the 503. The symptom is seen when a
// host answers 503 or a request through the LB fails.
func healthSymptom(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	h := l.Health(ctx)
	fmt.Fprintf(out, "   health check (GET /healthz on each host%s): %s\n", yes(h.LB, ", and the LB's state", ""), h.Line)
	s, err := l.SampleAs(ctx, "", l.SiteName(), n, false)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "   %s\n", s)
	if len(h.Broken) > 0 && s.OK() {
		fmt.Fprintf(out, "   users see no error: the LB routes around %s, and the farm runs on fewer hosts\n", strings.Join(h.Broken, ", "))
	}
	return len(h.Broken) > 0 || !s.OK(), nil
}
