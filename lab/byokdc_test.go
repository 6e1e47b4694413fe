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
	"testing"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// Issue 10 part 2: a farm on a KDC the user runs. The KDC here is made by
// the test alone, as a container would run it (its own realm, dir and
// port, kdb5_util create -s, kadmin.local addprinc/ktadd), never through
// the lab's provisioning code.

const (
	extRealm = "EXTERNAL.TEST"
	extFQDN  = "sso.external.localhost"
)

// externalKDC is an MIT krb5kdc the test runs, and the service keytab
// exported from it.
type externalKDC struct {
	Addr, Keytab, Dir string
}

// startExternalKDC creates realm EXTERNAL.TEST in a temp dir with alice
// (alice-password), svc-web and HTTP/<extFQDN> (random keys, exported with
// ktadd), runs krb5kdc on a free loopback port and stops it by PID in
// t.Cleanup.
func startExternalKDC(t *testing.T) externalKDC {
	t.Helper()
	bin := func(name string) string {
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if p := filepath.Join(d, name); fileExists(p) {
				return p
			}
		}
		t.Skipf("%s not installed (krb5-kdc, krb5-admin-server)", name)
		return ""
	}
	dir := t.TempDir()
	port := freePort(t)
	k := externalKDC{Addr: fmt.Sprintf("127.0.0.1:%d", port), Keytab: filepath.Join(dir, "http.keytab"), Dir: dir}
	kdcConf := fmt.Sprintf(`[kdcdefaults]
 kdc_listen = 127.0.0.1:%[1]d
 kdc_tcp_listen = 127.0.0.1:%[1]d
[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:%[3]s/kdc.log
`, port, extRealm, dir)
	krb5Conf := fmt.Sprintf("[libdefaults]\n default_realm = %s\n[realms]\n %s = {\n  kdc = %s\n }\n", extRealm, extRealm, k.Addr)
	writeFile(t, filepath.Join(dir, "kdc.conf"), kdcConf)
	writeFile(t, filepath.Join(dir, "krb5.conf"), krb5Conf)
	env := append(os.Environ(), "KRB5_CONFIG="+filepath.Join(dir, "krb5.conf"), "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"))
	run := func(prog string, args ...string) {
		cmd := exec.Command(bin(prog), args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
		}
	}
	run("kdb5_util", "create", "-s", "-r", extRealm, "-P", "master-password", "-W")
	for _, q := range []string{"addprinc -pw alice-password alice", "addprinc -randkey svc-web",
		"addprinc -randkey HTTP/" + extFQDN, "ktadd -k " + k.Keytab + " HTTP/" + extFQDN} {
		run("kadmin.local", "-r", extRealm, "-q", q)
	}
	startKDCProcess(t, bin("krb5kdc"), env)
	return k
}

// startKDCProcess runs krb5kdc -n for extRealm as a container would
// (startDaemon: waits for its "starting..." line, stops it by PID).
func startKDCProcess(t *testing.T, prog string, env []string) {
	t.Helper()
	startDaemon(t, env, prog, "-n", "-r", extRealm)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestExternalKDC runs the farm in every LB mode on the test's own KDC
// and logs in through the LB: both hosts must answer 200.
func TestExternalKDC(t *testing.T) {
	k := startExternalKDC(t)
	for _, mode := range []string{"terminate", "passthrough", "reencrypt"} {
		t.Run(mode, func(t *testing.T) {
			farm := labtest.Start(t, lab.Config{KDC: k.Addr, Realm: extRealm, FQDN: extFQDN, Keytab: k.Keytab, LB: lab.LBConfig{Mode: mode}})
			getBoth(t, farm)
		})
	}
}

// TestExternalKDCRealClients uses the real MIT kinit and curl --negotiate
// against the user's KDC through the LB, and checks that directory
// changes are refused with what is missing.
func TestExternalKDCRealClients(t *testing.T) {
	for _, p := range []string{"kinit", "curl"} {
		if _, err := exec.LookPath(p); err != nil {
			t.Skipf("%s not installed", p)
		}
	}
	k := startExternalKDC(t)
	farm := labtest.Start(t, lab.Config{KDC: k.Addr, Realm: extRealm, FQDN: extFQDN, Keytab: k.Keytab})
	env := append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "cc"))
	kinit := exec.Command("kinit", "alice@"+extRealm)
	kinit.Env, kinit.Stdin = env, strings.NewReader("alice-password\n")
	if out, err := kinit.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	_, port, _ := net.SplitHostPort(farm.LBAddr())
	seen := map[string]bool{}
	for i := 0; i < 20 && len(seen) < 2; i++ {
		curl := exec.Command("curl", "-sS", "--negotiate", "-u", ":", "--cacert", farm.CAFile,
			"--resolve", extFQDN+":"+port+":127.0.0.1", "-o", "/dev/null", "-w", "%{http_code} %header{x-backend}", farm.URL)
		curl.Env = env
		out, err := curl.Output()
		if err != nil {
			t.Fatalf("curl: %v %s", err, out)
		}
		code, backend, _ := strings.Cut(string(out), " ")
		if code != "200" {
			t.Fatalf("curl --negotiate %s: %s, want 200", farm.URL, out)
		}
		seen[backend] = true
	}
	if len(seen) != 2 {
		t.Errorf("curl got 200 from %v, want both hosts", seen)
	}
	err := farm.Admin().SetSPN(context.Background(), "HTTP/web.external.localhost", "svc-web", true)
	var nk *lab.NoKadminError
	if !errors.As(err, &nk) || !strings.Contains(err.Error(), "needs --kadmin: this farm uses a KDC it does not administer") {
		t.Errorf("setspn on a farm without kadmin: err = %v, want *lab.NoKadminError", err)
	}
}
