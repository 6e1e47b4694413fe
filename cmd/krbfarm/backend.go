package main

import (
	"github.com/spf13/cobra"
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
			c, err := mergeBackendConfig(cmd, file, cfg)
			if err != nil {
				return err
			}
			iis.apply(cmd, &c)
			log := newLogger(true, zap.InfoLevel)
			defer log.Sync()
			return lab.RunBackend(cmd.Context(), c, listenFD, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&file, "config", "", "YAML backend config file (flags override it)")
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
	iis.register(cmd)
	f.IntVar(&listenFD, "listen-fd", 0, "serve on this inherited listener fd (used by the lab)")
	f.MarkHidden("listen-fd")
	return cmd
}

// mergeBackendConfig reads the file, if any, and lays the set flags over it.
func mergeBackendConfig(cmd *cobra.Command, file string, flags backend.Config) (backend.Config, error) {
	if file == "" {
		return flags, nil
	}
	c, err := backend.LoadConfig(file)
	if err != nil {
		return c, err
	}
	set := cmd.Flags().Changed
	over := func(name string, dst *string, v string) {
		if set(name) {
			*dst = v
		}
	}
	over("name", &c.Name, flags.Name)
	over("listen", &c.Listen, flags.Listen)
	over("keytab", &c.Keytab, flags.Keytab)
	over("spn", &c.SPN, flags.SPN)
	over("realm", &c.Realm, flags.Realm)
	over("tls-cert", &c.TLSCert, flags.TLSCert)
	over("tls-key", &c.TLSKey, flags.TLSKey)
	if set("clock-offset") {
		c.ClockOffset = flags.ClockOffset
	}
	if set("proxy-trusted") {
		c.ProxyProtocol.Trusted = flags.ProxyProtocol.Trusted
	}
	if set("proxy-required") {
		c.ProxyProtocol.Required = flags.ProxyProtocol.Required
	}
	if set("body-timeout") {
		c.BodyTimeout = flags.BodyTimeout
	}
	return c, nil
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

// apply lays the IIS flags given on the command line over c.
func (i *iisFlags) apply(cmd *cobra.Command, c *backend.Config) {
	set := cmd.Flags().Changed
	if set("batch-logon-right") {
		c.BatchLogonRight = &i.batchRight
	}
	if set("auth-persist-non-ntlm") {
		c.AuthPersistNonNTLM = &i.persistNonNTLM
	}
	if set("auth-persist-single-request") {
		c.AuthPersistSingleRequest = i.singleRequest
	}
	if set("max-field-length") {
		c.MaxFieldLength, c.MaxHeaderBytes = i.maxField, 0
	}
	if set("max-request-bytes") {
		c.MaxRequestBytes = i.maxRequest
	}
	if set("max-connections") {
		c.MaxConnections = i.maxConnections
	}
	if set("providers") {
		c.Providers = i.providers
	}
	if set("ntlm-users") {
		c.NTLMUsers = i.ntlmUsers
	}
	if set("event-log") {
		c.EventLog = i.eventLog
	}
	if set("token-checking") {
		c.ExtendedProtection.TokenChecking = backend.TokenChecking(i.tokenChecking)
	}
	if set("epa-flags") {
		c.ExtendedProtection.Flags = i.epaFlags
	}
	if set("epa-spn") {
		c.ExtendedProtection.SPNs = i.epaSPNs
	}
}
