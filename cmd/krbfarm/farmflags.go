package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lb"
)

// farmFlags are the flags shared by `up` and `demo`. A flag given on the
// command line wins over the config file.
type farmFlags struct {
	config   string
	state    string
	realm    string
	fqdn     string
	listen   string
	mode     string
	proxy    string
	kdcPort  int
	backends []string
	user     string
	password string
	krbPath  string
	cert     string
	key      string
	ca       string
}

func (ff *farmFlags) register(cmd *cobra.Command, defaultListen string) {
	f := cmd.Flags()
	f.StringVar(&ff.config, "config", "", "YAML farm config file (flags override it)")
	f.StringVar(&ff.state, "state", "", "state directory (default for up: $XDG_STATE_HOME/krbfarm or ~/.local/state/krbfarm)")
	f.StringVar(&ff.realm, "realm", lab.DefaultRealm, "Kerberos realm")
	f.StringVar(&ff.fqdn, "fqdn", lab.DefaultFQDN, "the farm's name; the SPN is HTTP/<fqdn>")
	f.StringVar(&ff.listen, "listen", defaultListen, "load balancer address (port 0 = a free port)")
	f.StringVar(&ff.mode, "mode", lb.ModeTerminate, "TLS at the load balancer: "+strings.Join(lb.Modes(), ", ")+" ("+lb.ModeL7Pool+" only demonstrates the L7 failure: never for production)")
	f.StringVar(&ff.proxy, "proxy-protocol", "", "send PROXY v1 or v2 headers to the hosts, which trust the LB (default: off, as IIS)")
	f.IntVar(&ff.kdcPort, "kdc-port", 0, "KDC port on 127.0.0.1 (0 = a free port)")
	f.StringSliceVar(&ff.backends, "backend", []string{"server1", "server2"}, "backend host names (repeat or comma-separate)")
	f.StringVar(&ff.user, "user", lab.DefaultUser, "user account to create")
	f.StringVar(&ff.password, "password", "", "the user's password (default <user>-password)")
	f.StringVar(&ff.cert, "cert", "", "certificate PEM for the FQDN (default: minted by the lab CA)")
	f.StringVar(&ff.key, "key", "", "the certificate's key PEM")
	f.StringVar(&ff.ca, "ca", "", "CA PEM that signed --cert, for clients (default: system roots)")
	f.StringVar(&ff.krbPath, "krb-path", "", "where to find krb5kdc, kdb5_util, kadmin.local (default $PATH and /usr/sbin)")
}

// labConfig builds the farm's config: the file first (decoded strictly,
// not validated yet), then every flag the user set, then the command's
// defaults for what neither says (overlay's rule). The user and password
// go together: either flag replaces the file's users. The caller lays any
// flags of its own over the result, then calls check.
func (ff *farmFlags) labConfig(cmd *cobra.Command) (lab.Config, error) {
	var c lab.Config
	if ff.config != "" {
		var err error
		if c, err = readConfig(ff.config, lab.DecodeConfig); err != nil {
			return c, err
		}
	}
	fs := cmd.Flags()
	overlay(fs, "state", &c.StateDir, ff.state)
	overlay(fs, "realm", &c.Realm, ff.realm)
	overlay(fs, "fqdn", &c.FQDN, ff.fqdn)
	overlay(fs, "listen", &c.LB.Listen, ff.listen)
	overlay(fs, "mode", &c.LB.Mode, ff.mode)
	overlay(fs, "proxy-protocol", &c.LB.ProxyProtocol, ff.proxy)
	overlay(fs, "krb-path", &c.KrbPath, ff.krbPath)
	overlay(fs, "cert", &c.LB.Cert, ff.cert)
	overlay(fs, "key", &c.LB.Key, ff.key)
	overlay(fs, "ca", &c.LB.CA, ff.ca)
	overlay(fs, "kdc-port", &c.KDCPort, ff.kdcPort)
	var backends []lab.BackendConfig
	for _, b := range ff.backends {
		backends = append(backends, lab.BackendConfig{Name: b})
	}
	overlay(fs, "backend", &c.Backends, backends)
	set := fs.Changed
	if set("user") || set("password") || len(c.Users) == 0 {
		c.Users = []lab.User{{Name: ff.user, Password: ff.password}}
	}
	return c, nil
}

// check validates the farm's config once every flag is laid over it: the
// errors name the flag that set a field, or the file's field.
func (ff *farmFlags) check(cmd *cobra.Command, c *lab.Config) error {
	return ff.explain(cmd, c.Validate())
}

// explain rewrites the fields err names (from Validate or lab.Start:
// lab.PortInUseError, kdc.MissingToolsError) as farmFlagsFor says.
func (ff *farmFlags) explain(cmd *cobra.Command, err error) error {
	return farmFlagsFor.explain(err, cmd.Flags(), ff.config)
}

// farmFlagsFor names the flag of each lab.Config field that up, demo and
// scenario run have (kdc and keytab: up only).
var farmFlagsFor = flagFor{
	"state_dir":         "state",
	"realm":             "realm",
	"fqdn":              "fqdn",
	"lb.listen":         "listen",
	"lb.mode":           "mode",
	"lb.proxy_protocol": "proxy-protocol",
	"lb.cert":           "cert",
	"lb.key":            "key",
	"lb.ca":             "ca",
	"kdc_port":          "kdc-port",
	"backends":          "backend",
	"users":             "user",
	"users[0].password": "password",
	"krb_path":          "krb-path",
	"kdc":               "kdc",
	"keytab":            "keytab",
	"kadmin":            "kadmin",
	"admin":             "admin",
}

// defaultStateDir is where `up` keeps its farm when --state is not given.
func defaultStateDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "krbfarm")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), fmt.Sprintf("krbfarm-%d", os.Getuid()))
	}
	return filepath.Join(home, ".local", "state", "krbfarm")
}
