package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/internal/config"
	"github.com/krbfarm/krbfarm/lb"
)

// TestOverlay: a flag given wins over the file; a flag not given never
// overwrites it; where the file says nothing, the flag's default fills in.
func TestOverlay(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	a := fs.String("a", "default-a", "")
	b := fs.String("b", "default-b", "")
	n := fs.Int("n", 0, "")
	if err := fs.Parse([]string{"--a", "flag-a", "--n", "0"}); err != nil {
		t.Fatal(err)
	}
	dstA, dstB, dstN := "file-a", "file-b", 7
	overlay(fs, "a", &dstA, *a)
	overlay(fs, "b", &dstB, *b)
	overlay(fs, "n", &dstN, *n)
	if dstA != "flag-a" || dstB != "file-b" || dstN != 0 {
		t.Errorf("got a=%q b=%q n=%d; want the given flags (flag-a, 0) over the file and file-b kept", dstA, dstB, dstN)
	}
	var empty string
	overlay(fs, "b", &empty, *b)
	if empty != "default-b" {
		t.Errorf("empty field: got %q; want the flag's default", empty)
	}
}

// TestMergeLBConfigOverlay: the same rule through krbfarm lb's flags; the
// old code applied some flags whether given or not (none now).
func TestMergeLBConfigOverlay(t *testing.T) {
	file := writeFile(t, "lb.yaml", "listen: 127.0.0.1:0\nmode: passthrough\nidle_timeout: 5m\nbackend_server_name: file.example\n"+
		"health: {interval: 2s, fall: 5}\nbackends: [{name: f, addr: '127.0.0.1:1', weight: 3}]\n")
	c, err := lbFromArgs(t, "--config", file, "--mode", "reencrypt", "--health-fall", "1", "--idle-timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if c.Mode != lb.ModeReencrypt || c.Health.Fall != 1 || c.IdleTimeout != time.Minute {
		t.Errorf("flags given: mode %q fall %d idle %v; want reencrypt, 1, 1m", c.Mode, c.Health.Fall, c.IdleTimeout)
	}
	if c.Listen != "127.0.0.1:0" || c.BackendServerName != "file.example" || c.Health.Interval != 2*time.Second || len(c.Backends) != 1 || c.Backends[0].Weight != 3 {
		t.Errorf("flags not given overwrote the file: %+v", c)
	}
	c, err = lbFromArgs(t, "--config", file, "--backend", "a=127.0.0.1:2,127.0.0.1:3")
	if err != nil || len(c.Backends) != 2 || c.Backends[0] != (lb.Backend{Name: "a", Addr: "127.0.0.1:2"}) || c.Backends[1].Addr != "127.0.0.1:3" {
		t.Errorf("--backend: %+v, %v; want it to replace the file's backends", c.Backends, err)
	}
}

// TestMergeLBConfigUnknownKey: krbfarm lb once read its file with
// yaml.Unmarshal and ignored a misspelt key.
func TestMergeLBConfigUnknownKey(t *testing.T) {
	file := writeFile(t, "lb.yaml", "backends: [{addr: '127.0.0.1:1'}]\nbackend_servername: sso.example\n")
	_, err := lbFromArgs(t, "--config", file)
	if err == nil || !strings.Contains(err.Error(), `line 2: unknown key "backend_servername"`) {
		t.Fatalf("got %v; want the unknown key named with its line", err)
	}
}

// TestMergeLBConfigErrorsNameFlags: every error at once; a field a flag
// set is named by the flag, one the file set by file and path.
func TestMergeLBConfigErrorsNameFlags(t *testing.T) {
	file := writeFile(t, "lb.yaml", "balance: random\nbackends: [{addr: '127.0.0.1:1'}, {addr: web2}]\n")
	_, err := lbFromArgs(t, "--config", file, "--listen", "0", "--mode", "http")
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *config.FieldError
		if errors.As(e, &fe) {
			got = append(got, fe.Path)
		}
	}
	want := []string{"--listen", file + ": backends[1].addr", "--mode", file + ": balance"}
	if !slices.Equal(got, want) {
		t.Errorf("paths %q; want %q\n%v", got, want, err)
	}
	_, err = lbFromArgs(t, "--backend", "web1")
	if err == nil || !strings.Contains(err.Error(), "--backend (backends[0].addr): ") {
		t.Errorf("no file: %v; want --backend (backends[0].addr) named", err)
	}
}

// TestLBFlagsNamed: every flag of krbfarm lb but --config sets a field
// named in lbFlags, and every field there has its flag.
func TestLBFlagsNamed(t *testing.T) {
	cmd := newLBCmd()
	named := map[string]bool{}
	for _, f := range lbFlags {
		named[f] = true
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("lbFlags names --%s, which krbfarm lb does not have", f)
		}
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Name != "config" && !named[f.Name] {
			t.Errorf("--%s is missing from lbFlags", f.Name)
		}
	})
}

func lbFromArgs(t *testing.T, args ...string) (lb.Config, error) {
	t.Helper()
	var o lbOptions
	fs := pflag.NewFlagSet("lb", pflag.ContinueOnError)
	o.register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return o.config(fs)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMergeBackendConfig: flags are laid over the file before it is
// validated, so a flag can supply what the file lacks (the file was once
// validated alone: "keytab is required"); a flag not given keeps the
// file's value; an unknown key is refused.
func TestMergeBackendConfig(t *testing.T) {
	file := writeFile(t, "server1.yaml", "name: server1\nlisten: 127.0.0.1:0\nspn: HTTP/sso.example\n")
	fs := pflag.NewFlagSet("backend", pflag.ContinueOnError)
	keytab, spn := fs.String("keytab", "", ""), fs.String("spn", "", "")
	if err := fs.Parse([]string{"--keytab", "/k"}); err != nil {
		t.Fatal(err)
	}
	c, err := mergeBackendConfig(fs, file, backend.Config{Keytab: *keytab, SPN: *spn}, &iisFlags{})
	if err != nil || c.Keytab != "/k" || c.SPN != "HTTP/sso.example" || c.Name != "server1" {
		t.Errorf("got %+v, %v; want keytab from the flag, name and spn from the file", c, err)
	}
	bad := writeFile(t, "typo.yaml", "name: s\nkeytab: /k\nspns: HTTP/x\n")
	if _, err := mergeBackendConfig(fs, bad, backend.Config{}, &iisFlags{}); err == nil || !strings.Contains(err.Error(), `line 3: unknown key "spns"`) {
		t.Errorf("unknown key: %v; want it named with its line", err)
	}
	empty := pflag.NewFlagSet("backend", pflag.ContinueOnError)
	empty.String("name", "", "")
	_, err = mergeBackendConfig(empty, "", backend.Config{}, &iisFlags{})
	if err == nil || !strings.Contains(err.Error(), "--name: required") || !strings.Contains(err.Error(), "keytab: required") {
		t.Errorf("no file, no flags: %v; want every missing field, by flag where there is one", err)
	}
}
