package lb

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/krbfarm/krbfarm/internal/config"
)

// TestLoadConfigUnknownKey: a misspelt key is an error naming it and its
// line; cmd once read lb's YAML with yaml.Unmarshal, which ignored it.
func TestLoadConfigUnknownKey(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lb.yaml")
	src := "listen: 127.0.0.1:0\nbackends: [{addr: '127.0.0.1:1'}]\nbackend_server_nmae: sso.example.com\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadConfig(file)
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown key "backend_server_nmae"`) || !strings.Contains(err.Error(), file) {
		t.Fatalf("LoadConfig: %v; want an error naming the file, line 3 and backend_server_nmae", err)
	}
	if _, err := DecodeConfig(strings.NewReader("backends:\n  - {addr: 'h:1', wieght: 2}\n")); err == nil || !strings.Contains(err.Error(), `line 2: unknown key "wieght"`) {
		t.Errorf("DecodeConfig, nested: %v; want line 2 and wieght named", err)
	}
}

func TestLoadConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "lb.yaml")
	src := "mode: reencrypt\nbackend_server_name: sso.example.com\nbackends: [{name: a, addr: '127.0.0.1:1'}]\n"
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadConfig(file)
	if err != nil || c.Mode != ModeReencrypt || c.BackendServerName != "sso.example.com" || c.Backends[0].Name != "a" {
		t.Errorf("LoadConfig = %+v, %v", c, err)
	}
	if _, err := LoadConfig(filepath.Join(t.TempDir(), "none.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("LoadConfig(missing): %v; want ErrNotExist", err)
	}
	if err := os.WriteFile(file, []byte("backends: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadConfig(file); err == nil || !strings.Contains(err.Error(), "backends: at least one") {
		t.Errorf("LoadConfig validates: %v; want backends: at least one ...", err)
	}
}

// TestValidateAllAtOnce: every wrong field is reported, each a FieldError
// with its YAML path; Validate once stopped at the first.
func TestValidateAllAtOnce(t *testing.T) {
	c := Config{
		Listen:   "8443",
		Backends: []Backend{{Addr: "127.0.0.1:1"}, {Addr: "web2"}, {Addr: "h:2", Weight: -1}},
		Mode:     "http", Balance: "random", Engine: "io_uring", ProxyProtocol: "v3",
		Health:      Health{Type: "icmp", Rise: -1},
		DialTimeout: -1, MaxConns: -1, CertFile: "c.pem",
		Admin: "10.0.0.1:9100",
	}
	err := c.Validate()
	want := []string{"listen", "backends[1].addr", "backends[2].weight", "mode", "balance", "engine", "proxy_protocol",
		"health.type", "health.rise", "dial_timeout", "admin", "max_conns", "key"}
	var got []string
	for _, e := range joined(err) {
		var fe *config.FieldError
		if !errors.As(e, &fe) {
			t.Errorf("%v is not a FieldError", e)
			continue
		}
		got = append(got, fe.Path)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths:\n got %v\nwant %v\nerror:\n%v", got, want, err)
	}
	if !strings.Contains(err.Error(), `mode: "http" is not one of terminate, passthrough, reencrypt`) {
		t.Errorf("error %q; want the mode line to list the modes", err)
	}
}

func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestValidMode(t *testing.T) {
	for _, m := range append(Modes(), "") {
		if !ValidMode(m) {
			t.Errorf("ValidMode(%q) = false", m)
		}
	}
	if ValidMode("http") {
		t.Error("ValidMode(http) = true")
	}
}
