package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/labtest"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// kinit logs the farm's first user in with the real MIT kinit and returns
// the environment for krb5 client programs (curl, klist) to use that ccache.
func kinit(t *testing.T, farm *lab.Farm) []string {
	t.Helper()
	u := farm.Config.Users[0]
	env := append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "cc"))
	cmd := exec.Command("kinit", u.Name+"@"+farm.Config.Realm)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(u.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return env
}

// curlNegotiate sends one request with the real curl --negotiate and
// returns the status code and the X-Backend and body.
func curlNegotiate(t *testing.T, farm *lab.Farm, env []string, negotiate bool) (code, backendName, body string) {
	t.Helper()
	args := []string{"-s", "--max-time", "10", "--cacert", farm.CAFile, "-H", "Accept: application/json",
		"--resolve", farm.Config.FQDN + ":" + port(farm.LBAddr()) + ":127.0.0.1",
		"-w", "\n%{http_code} %header{x-backend}", farm.URL}
	if negotiate {
		args = append([]string{"--negotiate", "-u", ":"}, args...)
	}
	cmd := exec.Command("curl", args...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	s := string(out)
	i := strings.LastIndex(s, "\n")
	f := strings.Fields(s[i+1:])
	for len(f) < 2 {
		f = append(f, "")
	}
	return f[0], f[1], s[:i]
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func TestCurlNegotiateThroughLB(t *testing.T) {
	for _, mode := range []string{"terminate", "passthrough"} {
		t.Run(mode, func(t *testing.T) {
			farm := labtest.Start(t, lab.Config{LB: lab.LBConfig{Mode: mode}})
			env := kinit(t, farm)
			served := map[string]int{}
			for i := 0; i < 4; i++ {
				code, be, body := curlNegotiate(t, farm, env, true)
				if code != "200" || !strings.Contains(body, `"user":"alice@KRBFARM.LOCALHOST"`) || !strings.Contains(body, `"mechanism":"Kerberos"`) {
					t.Fatalf("request %d: got %s %q; want 200 as alice with Kerberos", i, code, body)
				}
				served[be]++
			}
			if served["server1"] == 0 || served["server2"] == 0 {
				t.Errorf("served %v; want both server1 and server2", served)
			}
		})
	}
}

func TestNoTicketGets401Negotiate(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	env := append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "empty"))
	code, _, _ := curlNegotiate(t, farm, env, true)
	if code != "401" {
		t.Errorf("curl --negotiate with no ticket: got %s; want 401", code)
	}
	c := labtest.Client(t, farm, "alice")
	res, err := c.GetAnonymous(context.Background(), farm.URL)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 401 || res.Challenge != "Negotiate" {
		t.Errorf("anonymous: got %d %q; want 401 \"Negotiate\"", res.Status, res.Challenge)
	}
}

func TestKilledBackendFarmKeepsServing(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	c := labtest.Client(t, farm, "alice")
	farm.Host("server1").Kill()
	for i := 0; i < 6; i++ {
		res, err := c.Get(context.Background(), farm.URL)
		if err != nil {
			t.Fatalf("request %d after killing server1: %v", i, err)
		}
		if res.Status != 200 || res.Backend != "server2" || res.User != "alice@KRBFARM.LOCALHOST" {
			t.Fatalf("request %d after killing server1: got %+v; want 200 from server2 as alice", i, res)
		}
	}
}

func TestCloseLeavesNoProcess(t *testing.T) {
	ctx := context.Background()
	farm, err := lab.Start(ctx, lab.Config{})
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	pids := farm.PIDs()
	if len(pids) != 3 {
		t.Fatalf("farm runs %v; want the KDC and two hosts", pids)
	}
	dir := farm.Dir
	if err := farm.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d still running after Close", pid)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary state dir %s left after Close (err %v)", dir, err)
	}
	if err := farm.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// alive reports whether pid is a live process (zombies count as dead).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(b), ") Z ")
}

func TestKeptStateDir(t *testing.T) {
	dir := t.TempDir()
	farm := labtest.Start(t, lab.Config{StateDir: dir})
	in, err := lab.ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	if in.URL != farm.URL || len(in.Backends) != 2 || in.Users[0].Principal != "alice@KRBFARM.LOCALHOST" || in.LB.Mode != "terminate" {
		t.Errorf("farm.json: got %+v", in)
	}
	for _, b := range in.Backends {
		fi, err := os.Stat(b.Keytab)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("keytab %s: mode %v err %v; want 0600", b.Keytab, fi.Mode().Perm(), err)
		}
	}
	env, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil || !strings.Contains(string(env), "export KRB5_CONFIG="+in.Krb5Conf) {
		t.Errorf("env file: %q %v", env, err)
	}
	// A second farm on the same state dir is refused while the first runs.
	_, err = lab.Start(context.Background(), lab.Config{StateDir: dir})
	var inUse *lab.StateInUseError
	if !errors.As(err, &inUse) || !strings.Contains(err.Error(), "--state") {
		t.Errorf("second farm on %s: got %v; want StateInUseError naming --state", dir, err)
	}
	farm.Close()
	if _, err := os.Stat(filepath.Join(dir, "tls", "ca.pem")); err != nil {
		t.Errorf("kept state dir lost its CA: %v", err)
	}
}

func TestStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	failing := t.TempDir()
	script := "#!/bin/sh\necho 'krb5kdc: Cannot open DB2 database' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(failing, "krb5kdc"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  lab.Config
		want []string
	}{
		{"missing krb5 programs", lab.Config{KrbPath: t.TempDir()}, []string{"krb5kdc", "krb5-kdc", "krb5-admin-server", "apt-get install", "krb_path"}},
		{"LB port in use", lab.Config{LB: lab.LBConfig{Listen: busy.Addr().String()}}, []string{busy.Addr().String(), "with lb.listen, or 127.0.0.1:0 for a free port"}},
		{"KDC port in use", lab.Config{KDCPort: busy.Addr().(*net.TCPAddr).Port}, []string{busy.Addr().String(), "with kdc_port, or 0 for a free port"}},
		{"KDC fails to start", lab.Config{KrbPath: failing + ":/usr/sbin:/usr/bin"}, []string{"KDC failed to start", "Cannot open DB2 database"}},
		{"bad mode", lab.Config{LB: lab.LBConfig{Mode: "bridge"}}, []string{"lb.mode", "terminate, passthrough, reencrypt or l7-pooling"}},
		{"bad proxy protocol", lab.Config{LB: lab.LBConfig{ProxyProtocol: "v3"}}, []string{"lb.proxy_protocol", "v1, v2"}},
		{"bad health", lab.Config{LB: lab.LBConfig{Health: "icmp"}}, []string{"lb.health", "http or tcp"}},
		{"http health in passthrough", lab.Config{LB: lab.LBConfig{Mode: "passthrough", Health: "http"}}, []string{"lb.health: http", "use tcp"}},
		{"bad realm", lab.Config{Realm: "lower.case"}, []string{"realm", "upper-case"}},
		{"duplicate host", lab.Config{Backends: []lab.BackendConfig{{Name: "a"}, {Name: "a"}}}, []string{"backends[1].name", "unique"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			farm, err := lab.Start(ctx, tt.cfg)
			if err == nil {
				farm.Close()
				t.Fatalf("Start succeeded; want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), " --") {
				t.Errorf("error %q names a CLI flag; the library names config fields", err)
			}
		})
	}
}

func TestStaticCertificate(t *testing.T) {
	// A certificate the user brings, signed by their own CA.
	dir := t.TempDir()
	ca, err := tlsterm.NewCA(filepath.Join(dir, "their-ca.pem"), filepath.Join(dir, "their-ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "sso.pem"), filepath.Join(dir, "sso-key.pem")
	if err := ca.Issue([]string{lab.DefaultFQDN}, cert, key); err != nil {
		t.Fatal(err)
	}
	farm := labtest.Start(t, lab.Config{LB: lab.LBConfig{Cert: cert, Key: key, CA: filepath.Join(dir, "their-ca.pem")}})
	c, err := krbhttp.New(krbhttp.Config{
		Krb5Conf: farm.Realm.Krb5Conf, User: "alice", Password: "alice-password",
		SPN: farm.Config.SPN(), CAFile: filepath.Join(dir, "their-ca.pem"), DialAddr: farm.LBAddr(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Get(context.Background(), farm.URL)
	if err != nil || res.Status != 200 {
		t.Fatalf("with the user's certificate: %+v %v; want 200", res, err)
	}
}
