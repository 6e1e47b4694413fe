package main

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// runKrbfarm runs the CLI in this process and returns its error.
func runKrbfarm(t *testing.T, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	root := newRoot()
	root.SetArgs(args)
	var out strings.Builder
	root.SetOut(&out)
	root.SetErr(&out)
	return root.ExecuteContext(ctx)
}

func wantIn(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil; want an error saying %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

// TestUpKDCPortInUse: lab names kdc_port; the CLI names the flag that set
// it, with the hint for a port (0), not for an address.
func TestUpKDCPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)
	err = runKrbfarm(t, "up", "--state", t.TempDir(), "--dashboard", "off", "--kdc-port", port)
	wantIn(t, err, busy.Addr().String(), "pick another with --kdc-port, or 0 for a free port")
}

// TestUpMissingToolsNamesFlag: krb_path, set by --krb-path, is named so.
func TestUpMissingToolsNamesFlag(t *testing.T) {
	err := runKrbfarm(t, "up", "--state", t.TempDir(), "--dashboard", "off", "--krb-path", t.TempDir())
	wantIn(t, err, "krb5kdc", "set the search path with --krb-path")
}

// TestFarmFlagsNameFields: Validate runs once the flags are laid over the
// file, so a flag supplies what the file lacks (keytab with the file's
// kdc), and each error names the flag that set the field, or the file's
// field.
func TestFarmFlagsNameFields(t *testing.T) {
	err := runKrbfarm(t, "demo", "--mode", "bridge", "--realm", "lower.case")
	wantIn(t, err, `--mode: "bridge": use terminate, passthrough, reencrypt or l7-pooling`, `--realm: "lower.case"`)
	file := writeFile(t, "farm.yaml", "kdc: 127.0.0.1:88\nlb: {proxy_protocol: v3}\n")
	err = runKrbfarm(t, "up", "--config", file, "--keytab", "x.keytab", "--realm", "lower.case", "--dashboard", "off")
	wantIn(t, err, `--realm: "lower.case"`, file+`: lb.proxy_protocol: "v3"`)
	if strings.Contains(err.Error(), "keytab") {
		t.Errorf("error %q: --keytab did not supply the file's missing keytab", err)
	}
	bad := writeFile(t, "farm.yaml", "lb:\n  mdoe: passthrough\n")
	wantIn(t, runKrbfarm(t, "demo", "--config", bad), `line 2: unknown key "mdoe"`)
}

// TestFarmFlagsNamed: every flag of up that sets a lab.Config field is in
// farmFlagsFor, and every flag there exists.
func TestFarmFlagsNamed(t *testing.T) {
	cmd := newUpCmd()
	named := map[string]bool{}
	for _, f := range farmFlagsFor {
		named[f] = true
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("farmFlagsFor names --%s, which krbfarm up does not have", f)
		}
	}
	notConfig := map[string]bool{"config": true, "scenario": true, "hint": true, "dashboard": true, "dashboard-public": true, "ready-file": true}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !named[f.Name] && !notConfig[f.Name] {
			t.Errorf("--%s is missing from farmFlagsFor", f.Name)
		}
	})
}

// TestExternalDoctorNamesFlags: the doctor names ExternalOptions fields;
// the CLI names its flags.
func TestExternalDoctorNamesFlags(t *testing.T) {
	err := runKrbfarm(t, "doctor", "--url", "https://sso.example/")
	wantIn(t, err, "missing --realm, --kdc, --user; fix: give --url, --realm, --kdc (HOST:PORT) and --user")
	if c := exitCode(err); c != 2 {
		t.Errorf("exit code %d; want 2", c)
	}
}
