package lab

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/krbfarm/krbfarm/internal/config"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// fieldPaths lists the YAML paths of the *config.FieldErrors joined,
// at any depth, in err.
func fieldPaths(t *testing.T, err error) []string {
	t.Helper()
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var paths []string
		for _, e := range j.Unwrap() {
			paths = append(paths, fieldPaths(t, e)...)
		}
		return paths
	}
	fe, ok := err.(*config.FieldError)
	if !ok {
		t.Errorf("%q is not a *config.FieldError", err)
		return nil
	}
	return []string{fe.Path}
}

// TestValidateFieldErrors: every wrong field at once, each a FieldError
// naming its YAML path, messages as before.
func TestValidateFieldErrors(t *testing.T) {
	c := Config{Realm: "lower.case", KDCPort: -1, Keytab: "k",
		Users:    []User{{Name: "bob"}, {Name: "BOB"}},
		Backends: []BackendConfig{{Name: "a"}, {Name: "a"}},
		LB:       LBConfig{Mode: "bridge", ProxyProtocol: "v3", Listen: "nope", Cert: "c"}}
	err := c.Validate()
	want := []string{"realm", "users[1].name", "backends[1].name", "lb.mode", "lb.proxy_protocol", "lb.cert", "lb.listen", "kdc_port", "keytab"}
	if got := fieldPaths(t, err); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths %q; want %q", got, want)
	}
	for _, w := range []string{`realm: "lower.case": use upper-case`, `lb.mode: "bridge": use terminate, passthrough, reencrypt or l7-pooling`, "kdc_port: -1: use 1-65535"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	var ne *kdc.NameError
	if !errors.As(err, &ne) {
		t.Errorf("errors.As(*kdc.NameError) = false; the name rule is lost")
	}
}

// TestValidateZeroIsDefault: the zero Config is a working farm, so a
// config flags have not been laid over yet validates where it is empty.
func TestValidateZeroIsDefault(t *testing.T) {
	if err := (&Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero) = %v; want nil", err)
	}
}

func TestDecodeConfigStrict(t *testing.T) {
	_, err := DecodeConfig(strings.NewReader("realm: EX.COM\nlb:\n  mdoe: passthrough\n"))
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown key "mdoe"`) {
		t.Errorf("DecodeConfig = %v; want the unknown key and its line", err)
	}
	c, err := DecodeConfig(strings.NewReader("kdc: 127.0.0.1:88\n"))
	if err != nil || c.KDC != "127.0.0.1:88" {
		t.Errorf("DecodeConfig = %+v, %v; want kdc decoded and no validation (keytab missing)", c, err)
	}
}

// TestLibraryErrorsNameFields: the errors that say which setting to
// change name the config field, never a CLI flag (cmd maps them).
func TestLibraryErrorsNameFields(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = kdcPort(busy.Addr().(*net.TCPAddr).Port)
	var pe *PortInUseError
	if !errors.As(err, &pe) || pe.Field != "kdc_port" || !strings.Contains(err.Error(), "pick another with kdc_port, or 0 for a free port") {
		t.Errorf("kdcPort(busy) = %v; want a PortInUseError naming kdc_port", err)
	}
	_, err = findTools(t.TempDir())
	var me *kdc.MissingToolsError
	if !errors.As(err, &me) || me.Field != "krb_path" || !strings.Contains(err.Error(), "set the search path with krb_path") {
		t.Errorf("findTools(empty dir) = %v; want a MissingToolsError naming krb_path", err)
	}
	renamed := pe.Rename(func(f string) string { return "--" + strings.ReplaceAll(f, "_", "-") })
	if !strings.Contains(renamed.Error(), "with --kdc-port, or 0") || pe.Field != "kdc_port" {
		t.Errorf("Rename: %v (original %q); want a copy naming --kdc-port", renamed, pe.Field)
	}
}
