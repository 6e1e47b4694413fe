package backend

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/config"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{Name: "server1", Keytab: "/k"}
	tests := []struct {
		name string
		mod  func(*Config)
		want string // "" = valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"full", func(c *Config) { c.SPN, c.Realm, c.Listen = testSPN, testRealm, "127.0.0.1:8081" }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name: required"},
		{"no keytab", func(c *Config) { c.Keytab = "" }, "keytab: required"},
		{"bad listen", func(c *Config) { c.Listen = "8081" }, "listen"},
		{"spn with realm", func(c *Config) { c.SPN = testSPN + "@R" }, "drop the @REALM"},
		{"spn without host", func(c *Config) { c.SPN = "HTTP" }, "service/host"},
		{"realm with @", func(c *Config) { c.Realm = "@R" }, "realm"},
		{"negative skew", func(c *Config) { c.MaxClockSkew = -time.Second }, "max_clock_skew"},
		{"negative header", func(c *Config) { c.MaxHeaderBytes = -1 }, "max_header_bytes"},
		{"cert without key", func(c *Config) { c.TLSCert = "/c" }, "tls_key"},
		{"providers", func(c *Config) { c.Providers = []string{"ntlm", "Negotiate"} }, ""},
		{"unknown provider", func(c *Config) { c.Providers = []string{"Kerberos"} }, "not a provider"},
		{"provider twice", func(c *Config) { c.Providers = []string{"NTLM", "ntlm"} }, "listed twice"},
		{"negative maxFieldLength", func(c *Config) { c.MaxFieldLength = -1 }, "maxFieldLength"},
		{"negative maxRequestBytes", func(c *Config) { c.MaxRequestBytes = -1 }, "maxRequestBytes"},
		{"old and new header names differ", func(c *Config) { c.MaxHeaderBytes, c.MaxFieldLength = 1, 2 }, "old name of maxFieldLength"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate: %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestConfigValidateAllAtOnce: every wrong field is reported, each a
// FieldError with its YAML path.
func TestConfigValidateAllAtOnce(t *testing.T) {
	c := Config{Listen: "8081", SPN: "HTTP", MaxFieldLength: -1, Providers: []string{"Kerberos"}, TLSKey: "/k"}
	err := c.Validate()
	want := []string{"name", "keytab", "listen", "spn", "maxFieldLength", "providers", "tls_cert"}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is not a FieldError", e)
			continue
		}
		got = append(got, fe.Path)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths %v; want %v\n%v", got, want, err)
	}
}

func TestConfigDefaults(t *testing.T) {
	c := Config{MaxHeaderBytes: 100}.withDefaults()
	if c.MaxFieldLength != 100 || c.MaxRequestBytes != 16384 || !*c.BatchLogonRight || !*c.AuthPersistNonNTLM ||
		c.AuthPersistSingleRequest || !reflect.DeepEqual(c.Providers, []string{"Negotiate", "NTLM"}) {
		t.Errorf("defaults %+v; want maxFieldLength from max_header_bytes, 16384, batch right, persist, [Negotiate NTLM]", c)
	}
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	tests := []struct {
		name, path string
		want       Config
		err        string
	}{
		{name: "good", path: write("good.yaml", "name: server2\nkeytab: /k\nspn: HTTP/sso.x\nmax_clock_skew: 2m\nclock_offset: -10m\n"),
			want: Config{Name: "server2", Keytab: "/k", SPN: "HTTP/sso.x", MaxClockSkew: 2 * time.Minute, ClockOffset: -10 * time.Minute}},
		{name: "IIS names", path: write("iis.yaml", "name: s\nkeytab: /k\nbatchLogonRight: false\nauthPersistNonNTLM: false\nauthPersistSingleRequest: true\nmaxFieldLength: 65534\nmaxRequestBytes: 65534\nproviders: [Negotiate]\nntlm_users: /u\nevent_log: /e\n"),
			want: Config{Name: "s", Keytab: "/k", BatchLogonRight: ptr(false), AuthPersistNonNTLM: ptr(false), AuthPersistSingleRequest: true,
				MaxFieldLength: 65534, MaxRequestBytes: 65534, Providers: []string{"Negotiate"}, NTLMUsers: "/u", EventLog: "/e"}},
		{name: "old max_header_bytes", path: write("old.yaml", "name: s\nkeytab: /k\nmax_header_bytes: 100\n"),
			want: Config{Name: "s", Keytab: "/k", MaxHeaderBytes: 100}},
		{name: "unknown field", path: write("typo.yaml", "name: s\nkeytab: /k\nkeytabs: /k\n"), err: `line 3: unknown key "keytabs"`},
		{name: "empty", path: write("empty.yaml", ""), err: "name: required"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), err: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadConfig(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("LoadConfig: %v; want error containing %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("LoadConfig = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
