package doctor

// Causes the doctor can name: the failure catalogue's entries, keyed by
// the scenario that reproduces each.
const (
	CauseMissingSPN      = "missing-spn"
	CauseAlias           = "alias-name"
	CauseDuplicateSPN    = "duplicate-spn"
	CauseSPNOnMachines   = "spn-on-machine-accounts"
	CauseAppPoolCredsOff = "app-pool-credentials-off"
	CauseWrongAccount    = "wrong-account"
	CauseStaleKeytab     = "stale-keytab"
	CauseEnctype         = "enctype-mismatch"
	CauseClockSkew       = "clock-skew"
	CauseReplay          = "replay-across-hosts"
	CauseNoBatchRight    = "no-batch-logon-right"
	CauseNTLMFallback    = "ntlm-fallback"
	CauseLargeToken      = "large-token"
	CauseEPA             = "extended-protection-offload"
	CauseL7Pooling       = "l7-connection-pooling"
	CauseRotation        = "gmsa-rotation"
	CauseGPOScope        = "gpo-scope"
)

// Finding is a catalogue entry: what it is and the administrator's fix.
type Finding struct {
	Title string
	Fix   string
}

// Catalogue maps each cause to its entry (FIELD.md, "Failure catalogue").
var catalogue = map[string]Finding{
	CauseMissingSPN: {"missing SPN: nobody holds the SPN, the KDC answers KDC_ERR_S_PRINCIPAL_UNKNOWN and browsers fall back to NTLM",
		"register the SPN on the shared account: setspn -S HTTP/<fqdn> <DOMAIN>\\svc-web"},
	CauseAlias: {"alias / CNAME: clients use a name no SPN exists for (browsers build the SPN from the name they resolve)",
		"register the alias on the shared account (setspn -S HTTP/<alias> <DOMAIN>\\svc-web), or publish the FQDN as an A record"},
	CauseDuplicateSPN: {"duplicate SPN: two accounts hold it, the KDC refuses it (KDC event 11, KDC_ERR_S_PRINCIPAL_UNKNOWN) and clients fall back to NTLM",
		"keep it on the shared account only: setspn -X to find them, setspn -D on the others"},
	CauseSPNOnMachines: {"SPN on a machine account: only that machine decrypts; requests landing on the other hosts fail with KRB_AP_ERR_MODIFIED",
		"setspn -D HTTP/<fqdn> SERVERn$, setspn -S HTTP/<fqdn> <DOMAIN>\\svc-web, pools run as svc-web with useAppPoolCredentials=True"},
	CauseAppPoolCredsOff: {"useAppPoolCredentials off: in kernel mode http.sys decrypts with the machine key, but the SPN is on the shared account: KRB_AP_ERR_MODIFIED on every host",
		"useAppPoolCredentials=True on every host (or useKernelMode=False)"},
	CauseWrongAccount: {"a host decrypts with another account's key than the SPN holder's: KRB_AP_ERR_MODIFIED there",
		"run the pool as the SPN holder and set useAppPoolCredentials=True"},
	CauseStaleKeytab: {"stale keytab: the shared account's password (kvno) changed, a host still has the old key: KRB_AP_ERR_BADKEYVER there",
		"give every host the current keytab (ktpass, then copy; krbfarm keytab push HOST); for good, run the pools as a gMSA, whose hosts fetch each new key themselves"},
	CauseRotation: {"password rotation of a plain shared account: the KDC issues tickets under the new key (kvno+1), but every host still decrypts with the keytab it was given before: KRB_AP_ERR_BADKEYVER on all of them, until someone copies a new keytab everywhere, at every rotation",
		"now: push the current keytab to every host (krbfarm keytab push HOST); for good: a group managed service account, New-ADServiceAccount gmsa-web -PrincipalsAllowedToRetrieveManagedPassword SERVER1$,SERVER2$ (krbfarm account add gmsa-web$ --gmsa --hosts server1,server2), the SPN moved to it (setspn -D, setspn -S), the pools run as it (Install-ADServiceAccount, identity <DOMAIN>\\gmsa-web$): the domain rotates its password every 30 days and the hosts fetch the new key themselves"},
	CauseEnctype: {"enctype mismatch: a host keytab lacks the enctype the KDC chose (e.g. RC4-only keytab, AES ticket): KRB_AP_ERR_NOKEY there",
		"AES keys on the account (msDS-SupportedEncryptionTypes 0x18) and a new AES keytab on the host"},
	CauseClockSkew: {"clock skew: a host's clock is off by more than 5 minutes: KRB_AP_ERR_SKEW there",
		"fix time on the host (w32tm /resync; NTP)"},
	CauseReplay: {"replay across hosts: each host has its own replay cache, so a captured token is refused only by the host that saw it (KRB_AP_ERR_REPEAT) and accepted by the others",
		"no setting cures it: TLS end to end so tokens cannot be captured, channel binding (Extended Protection), or a shared replay cache"},
	CauseNoBatchRight: {"no batch logon right: the app pool identity lacks \"Log on as a batch job\" (SeBatchLogonRight), WAS stops the pool (event 5021, security 4625 0xC000015B) and that host answers 503 to everyone",
		"grant \"Log on as a batch job\" to the pool identity by GPO (or take it out of \"Deny log on as a batch job\"), gpupdate /force on the host, start the app pool"},
	CauseGPOScope: {"GPO scope: \"Log on as a batch job\" is a computer setting, applied by the computers in the OUs a GPO is linked to; the GPO granting it to the pool identity is linked to another OU (the service account's), so after gpupdate the servers apply only the GPO that wins in theirs, without the pool identity: WAS stops the pool (event 5021) and the host answers 503",
		"link the GPO that grants the right to the servers' OU, above the one that wins there: New-GPLink -Name \"IIS App Pool Logon\" -Target \"OU=Web Servers,DC=...\" -Order 1 (krbfarm gpo link \"IIS App Pool Logon\" \"OU=Web Servers\" --order 1), then gpupdate /force on each host (krbfarm gpupdate HOST); or add the pool identity to the winning GPO's list"},
	CauseLargeToken: {"large token: the user is in so many groups that the Kerberos ticket (the group SIDs in its PAC) makes the Authorization header longer than http.sys allows (MaxFieldLength / MaxRequestBytes, 16384 bytes by default): HTTP 400 \"Request Header Too Long\" on every host, before any authentication",
		"raise the limits on every host: reg add HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters /v MaxFieldLength /t REG_DWORD /d 65534 /f, the same for MaxRequestBytes, then restart http.sys (net stop http /y; net start w3svc) or reboot; or shrink the token: fewer groups (clean up nested memberships), resource SID compression, no SIDHistory"},
	CauseEPA: {"Extended Protection (channel binding) behind a TLS-terminating load balancer: the hosts require channel bindings (tokenChecking Require), but the client bound its token to the certificate it saw, the load balancer's; the host's own channel (plain HTTP, or its own TLS) does not match: 401 on every host (EPA_CHANNEL_BINDING_MISMATCH, security 4625 0xC000035B)",
		"on every host keep Require but check the SPN instead of the channel (service binding): appcmd set config /section:windowsAuthentication /extendedProtection.tokenChecking:Require /extendedProtection.flags:Proxy, with the site's SPNs in extendedProtection/spn (krbfarm iis HOST --tokenChecking Require --epaFlags Proxy --epaSpn HTTP/<fqdn>); or pass TLS through to the hosts; or tokenChecking None"},
	CauseL7Pooling: {"L7 connection pooling: the load balancer proxies HTTP and reuses backend connections across clients, while IIS keeps a logon on the TCP connection (NTLM always, Kerberos with authPersistNonNTLM=True): a request without a token rides a connection another user logged on and is served as that user",
		"put the farm back on L4: a TCP (Layer 4) virtual server, or no connection reuse on the HTTP one (F5: remove the OneConnect profile; NetScaler: httpProfile -conMultiplex DISABLED) (lab: krbfarm up --mode terminate); or make every request authenticate on every host: appcmd set config /section:windowsAuthentication /authPersistSingleRequest:true (lab: krbfarm iis HOST --authPersistSingleRequest=true), at the cost of a Kerberos exchange per request"},
	CauseNTLMFallback: {"NTLM fallback: the site works, but over NTLM: Kerberos was not used (no service ticket), so no delegation and a DC round trip per connection",
		"fix why Kerberos fails (the underlying cause below), then check klist shows HTTP/<fqdn> and the site reports Kerberos"},
}

// Explain returns the catalogue entry for a cause.
func Explain(cause string) (Finding, bool) {
	f, ok := catalogue[cause]
	return f, ok
}
