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
  krbfarm backend --config server1.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := mergeBackendConfig(cmd, file, cfg)
			if err != nil {
				return err
			}
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
	return c, nil
}
