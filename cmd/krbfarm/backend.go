package main

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
)

func newBackendCmd() *cobra.Command {
	var (
		file     string
		cfg      backend.Config
		iis      iisFlags
		listenFD int
	)
	cmd := &cobra.Command{
		Use:   "backend",
		Short: "Run one IIS-like host: Windows Authentication (Negotiate) with a keytab",
		Long: `backend serves an HTTP site that behaves like an IIS site with Windows
Authentication: 401 Negotiate without a token, 200 with a valid Kerberos
token for the SPN, and one structured log line with the Kerberos reason for
every refusal. GET /healthz answers 200 for load balancers.`,
		Example: `  krbfarm backend --name server1 --keytab http.keytab --spn HTTP/sso.example.com --listen 127.0.0.1:8081
  krbfarm backend --config server1.yaml
  krbfarm backend --config server1.yaml --token-checking Require --epa-flags Proxy --epa-spn HTTP/sso.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := mergeBackendConfig(cmd.Flags(), file, cfg, &iis)
			if err != nil {
				return err
			}
			log := newLogger(true, zap.InfoLevel)
			defer log.Sync()
			return lab.RunBackend(cmd.Context(), c, listenFD, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "YAML backend config file (flags given override it)")
	f.StringVar(&cfg.Name, "name", "", "host name shown in responses and logs, e.g. server1")
	f.StringVar(&cfg.Listen, "listen", "", "address to serve on (default 127.0.0.1:0)")
	f.StringVar(&cfg.Keytab, "keytab", "", "keytab holding the SPN's keys")
	f.StringVar(&cfg.SPN, "spn", "", "service principal accepted, e.g. HTTP/sso.example.com (default: any in the keytab)")
	f.StringVar(&cfg.Realm, "realm", "", "realm of the SPN (default: the ticket's)")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "serve HTTPS with this certificate (with --tls-key)")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "the certificate's key")
	f.DurationVar(&cfg.ClockOffset, "clock-offset", 0, "this host's clock error, e.g. 10m (for skew practice)")
	f.StringSliceVar(&cfg.ProxyProtocol.Trusted, "proxy-trusted", nil, "read PROXY v1/v2 headers from these load balancer IPs/CIDRs only (repeat or comma-separate); others sending one are refused (default: off)")
	f.BoolVar(&cfg.ProxyProtocol.Required, "proxy-required", false, "with --proxy-trusted: trusted senders must send a PROXY header")
	f.DurationVar(&cfg.BodyTimeout, "body-timeout", 0, "time a request body may take once the headers are in, like http.sys EntityBody (default 30s)")
	f.DurationVar(&cfg.HeaderTimeout, "header-timeout", 0, "time the request line and headers may take, like http.sys HeaderWait (default 10s)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", 0, "time a keep-alive connection may wait for its next request, like http.sys IdleConnection (default 2m)")
	iis.register(cmd)
	f.IntVar(&listenFD, "listen-fd", 0, "serve on this inherited listener fd (used by the lab)")
	f.MarkHidden("listen-fd")
	return cmd
}

// mergeBackendConfig reads the file, if any, lays the flags over it
// (overlay's rule) and validates the result, naming flags where flags set
// the field.
func mergeBackendConfig(fs *pflag.FlagSet, file string, flags backend.Config, iis *iisFlags) (backend.Config, error) {
	var c backend.Config
	if file != "" {
		var err error
		if c, err = readConfig(file, backend.DecodeConfig); err != nil {
			return c, err
		}
	}
	for name, p := range map[string][2]*string{
		"name": {&c.Name, &flags.Name}, "listen": {&c.Listen, &flags.Listen}, "keytab": {&c.Keytab, &flags.Keytab},
		"spn": {&c.SPN, &flags.SPN}, "realm": {&c.Realm, &flags.Realm},
		"tls-cert": {&c.TLSCert, &flags.TLSCert}, "tls-key": {&c.TLSKey, &flags.TLSKey},
	} {
		overlay(fs, name, p[0], *p[1])
	}
	overlay(fs, "clock-offset", &c.ClockOffset, flags.ClockOffset)
	overlay(fs, "proxy-trusted", &c.ProxyProtocol.Trusted, flags.ProxyProtocol.Trusted)
	overlay(fs, "proxy-required", &c.ProxyProtocol.Required, flags.ProxyProtocol.Required)
	overlay(fs, "body-timeout", &c.BodyTimeout, flags.BodyTimeout)
	overlay(fs, "header-timeout", &c.HeaderTimeout, flags.HeaderTimeout)
	overlay(fs, "idle-timeout", &c.IdleTimeout, flags.IdleTimeout)
	iis.apply(fs, &c)
	return c, backendFlags.explain(c.Validate(), fs, file)
}

// backendFlags names the flag of each backend.Config field that has one.
var backendFlags = flagFor{
	"name": "name", "listen": "listen", "keytab": "keytab", "spn": "spn", "realm": "realm",
	"tls_cert": "tls-cert", "tls_key": "tls-key", "clock_offset": "clock-offset",
	"proxy_protocol.trusted": "proxy-trusted", "proxy_protocol.required": "proxy-required", "body_timeout": "body-timeout",
	"header_timeout": "header-timeout", "idle_timeout": "idle-timeout",
	"batchLogonRight": "batch-logon-right", "authPersistNonNTLM": "auth-persist-non-ntlm",
	"authPersistSingleRequest": "auth-persist-single-request", "maxFieldLength": "max-field-length",
	"maxRequestBytes": "max-request-bytes", "maxConnections": "max-connections", "providers": "providers",
	"ntlm_users": "ntlm-users", "event_log": "event-log",
	"extendedProtection.tokenChecking": "token-checking", "extendedProtection.flags": "epa-flags",
	"extendedProtection.spns": "epa-spn",
}

// iisFlags are the IIS settings of a host, named as IIS names them.
type iisFlags struct {
	batchRight, persistNonNTLM, singleRequest bool
	maxField, maxRequest, maxConnections      int
	providers                                 []string
	ntlmUsers, eventLog                       string
	// extendedProtection
	tokenChecking     string
	epaFlags, epaSPNs []string
}

func (i *iisFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&i.batchRight, "batch-logon-right", true, "batchLogonRight: false = the pool identity lacks \"Log on as a batch job\": 503 on every request, WAS 5021")
	f.BoolVar(&i.persistNonNTLM, "auth-persist-non-ntlm", true, "authPersistNonNTLM: Kerberos authenticates once per TCP connection")
	f.BoolVar(&i.singleRequest, "auth-persist-single-request", false, "authPersistSingleRequest: every request must authenticate")
	f.IntVar(&i.maxField, "max-field-length", 0, "maxFieldLength: largest header field in bytes (default 16384, as http.sys)")
	f.IntVar(&i.maxRequest, "max-request-bytes", 0, "maxRequestBytes: largest request line + headers (default 16384, as http.sys)")
	f.IntVar(&i.maxConnections, "max-connections", 0, "maxConnections: connections served at once; past it 503 and close (default 4096)")
	f.StringSliceVar(&i.providers, "providers", nil, "providers in order, each a WWW-Authenticate header (default Negotiate,NTLM)")
	f.StringVar(&i.ntlmUsers, "ntlm-users", "", "file (0600) of user:NT-hash lines for NTLM logons")
	f.StringVar(&i.eventLog, "event-log", "", "append Windows-like security events (4624/4625/5021) to this file")
	f.StringVar(&i.tokenChecking, "token-checking", "", "extendedProtection tokenChecking: None, Allow or Require: channel bindings of Kerberos tokens must match this host's TLS certificate (default None)")
	f.StringSliceVar(&i.epaFlags, "epa-flags", nil, "extendedProtection flags: Proxy (TLS ends before this host: check the SPN against --epa-spn instead), ProxyCohosting, NoServiceNameCheck, AllowDotlessSpn")
	f.StringSliceVar(&i.epaSPNs, "epa-spn", nil, "extendedProtection spns: with --epa-flags Proxy, the SPNs a ticket may be for, e.g. HTTP/sso.example.com (repeat or comma-separate)")
}

// apply lays the IIS flags over c (overlay's rule).
func (i *iisFlags) apply(fs *pflag.FlagSet, c *backend.Config) {
	overlay(fs, "batch-logon-right", &c.BatchLogonRight, &i.batchRight)
	overlay(fs, "auth-persist-non-ntlm", &c.AuthPersistNonNTLM, &i.persistNonNTLM)
	overlay(fs, "auth-persist-single-request", &c.AuthPersistSingleRequest, i.singleRequest)
	overlay(fs, "max-field-length", &c.MaxFieldLength, i.maxField)
	if fs.Changed("max-field-length") {
		c.MaxHeaderBytes = 0 // its old name, which the flag replaces
	}
	overlay(fs, "max-request-bytes", &c.MaxRequestBytes, i.maxRequest)
	overlay(fs, "max-connections", &c.MaxConnections, i.maxConnections)
	overlay(fs, "providers", &c.Providers, i.providers)
	overlay(fs, "ntlm-users", &c.NTLMUsers, i.ntlmUsers)
	overlay(fs, "event-log", &c.EventLog, i.eventLog)
	overlay(fs, "token-checking", &c.ExtendedProtection.TokenChecking, backend.TokenChecking(i.tokenChecking))
	overlay(fs, "epa-flags", &c.ExtendedProtection.Flags, i.epaFlags)
	overlay(fs, "epa-spn", &c.ExtendedProtection.SPNs, i.epaSPNs)
}
