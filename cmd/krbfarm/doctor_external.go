package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/doctor"
)

// externalFlags describe a real deployment for `krbfarm doctor --url`.
type externalFlags struct {
	url, realm, kdc, user string
	passwordEnv, ccache   string
	ca, connect           string
	backends              []string
	maxFieldLength        int
}

func (e *externalFlags) register(f *pflag.FlagSet) {
	f.StringVar(&e.url, "url", "", "external mode: the site's URL through the load balancer, e.g. https://sso.corp.example/")
	f.StringVar(&e.realm, "realm", "", "external mode: the Kerberos realm (the AD domain in upper case)")
	f.StringVar(&e.kdc, "kdc", "", "external mode: a KDC as HOST:PORT (a domain controller, port 88)")
	f.StringVar(&e.user, "user", "", "the user to log in as (with --state: a directory user, default the farm's first)")
	f.StringVar(&e.passwordEnv, "password-env", "KRBFARM_PASSWORD", "environment variable holding the user's password; unset or empty = use the ccache")
	f.StringVar(&e.ccache, "ccache", "", "MIT ccache to use without a password (default KRB5CCNAME, else /tmp/krb5cc_UID)")
	f.StringVar(&e.ca, "ca", "", "PEM file of the CA that signs the site's certificate (default: system roots)")
	f.StringVar(&e.connect, "connect-to", "", "HOST:PORT to connect to for the URL instead of resolving its name (like curl --connect-to), e.g. the LB")
	f.StringArrayVar(&e.backends, "backend", nil, "a host to reach directly, HOST:PORT or http://HOST:PORT (repeatable)")
	f.IntVar(&e.maxFieldLength, "max-field-length", backend.DefaultMaxFieldLength, "the hosts' header limit (http.sys MaxFieldLength)")
}

// options reads the password from the environment, never from a flag.
func (e *externalFlags) options(requests int) doctor.ExternalOptions {
	return doctor.ExternalOptions{
		URL: e.url, Realm: e.realm, KDC: e.kdc, User: e.user, Password: os.Getenv(e.passwordEnv),
		CCache: e.ccache, Backends: e.backends, Requests: requests, CAFile: e.ca, Connect: e.connect, MaxFieldLength: e.maxFieldLength,
	}
}

func runExternalDoctor(ctx context.Context, cmd *cobra.Command, e *externalFlags, requests int, output string) error {
	r, err := doctor.DiagnoseExternal(ctx, e.options(requests))
	if err != nil {
		return &exitError{code: 2, err: rename(err, e.namer(cmd.Flags()))}
	}
	return writeReport(cmd, r, output)
}

// externalFlagsFor names the flag of each doctor.ExternalOptions field
// that has one.
var externalFlagsFor = flagFor{
	"URL":            "url",
	"Realm":          "realm",
	"KDC":            "kdc",
	"User":           "user",
	"CCache":         "ccache",
	"CAFile":         "ca",
	"Connect":        "connect-to",
	"Backends":       "backend",
	"Requests":       "requests",
	"MaxFieldLength": "max-field-length",
}

// namer names ExternalOptions fields as flags; the password, which no
// flag holds, as the environment variable it is read from.
func (e *externalFlags) namer(fs *pflag.FlagSet) func(string) string {
	flags := externalFlagsFor.namer(fs, "")
	return func(field string) string {
		if field == "Password" {
			return "$" + e.passwordEnv + " (--password-env)"
		}
		return flags(field)
	}
}

// writeReport prints r as text or JSON and turns a problem into exit 1.
func writeReport(cmd *cobra.Command, r *doctor.Report, output string) error {
	out := cmd.OutOrStdout()
	if output == "json" {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintln(out, string(b))
	} else {
		r.Print(out, "")
	}
	if !r.Healthy() {
		return &exitError{code: 1, err: fmt.Errorf("problem found: %s", r.Cause)}
	}
	return nil
}
