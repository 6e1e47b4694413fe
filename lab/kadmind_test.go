package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lab/scenario"
)

// Issue 10, with admin rights: a farm on a KDC the user runs, which the lab
// changes through that KDC's kadmind with MIT's remote kadmin client. The
// test runs krb5kdc and kadmind itself, as a container would: its own
// realm, dir and ports, an admin principal made with kadmin.local and a
// kadm5.acl granting it everything.

const (
	admRealm = "KADMIND.TEST"
	admFQDN  = "sso.kadmind.localhost"
	// admPassword holds what a careless quoting would break on.
	admPassword = `adm "pw" with spaces; $HOME`
)

// kadmindKDC is the KDC and kadmind the test runs.
type kadmindKDC struct {
	KDC, Kadmin string
	local       func(t *testing.T, args ...string) string // kadmin.local -q, quoted
}

func startKadmindKDC(t *testing.T) kadmindKDC {
	t.Helper()
	bin := func(name string) string {
		for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin"} {
			if p := filepath.Join(d, name); fileExists(p) {
				return p
			}
		}
		t.Skipf("%s not installed (krb5-kdc, krb5-admin-server, krb5-user)", name)
		return ""
	}
	bin("kadmin") // the client the lab runs
	dir := t.TempDir()
	kp, ap, pp := freePort(t), freePort(t), freePort(t)
	k := kadmindKDC{KDC: fmt.Sprintf("127.0.0.1:%d", kp), Kadmin: fmt.Sprintf("127.0.0.1:%d", ap)}
	writeFile(t, filepath.Join(dir, "kdc.conf"), fmt.Sprintf(`[kdcdefaults]
 kdc_listen = 127.0.0.1:%[1]d
 kdc_tcp_listen = 127.0.0.1:%[1]d
[realms]
 %[2]s = {
  database_name = %[3]s/principal
  key_stash_file = %[3]s/stash
  acl_file = %[3]s/kadm5.acl
  kadmind_listen = 127.0.0.1:%[4]d
  kpasswd_listen = 127.0.0.1:%[5]d
  supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
 }
[logging]
 kdc = FILE:%[3]s/kdc.log
 admin_server = FILE:%[3]s/kadmind.log
`, kp, admRealm, dir, ap, pp))
	writeFile(t, filepath.Join(dir, "krb5.conf"), fmt.Sprintf("[libdefaults]\n default_realm = %s\n[realms]\n %s = {\n  kdc = %s\n  admin_server = %s\n }\n",
		admRealm, admRealm, k.KDC, k.Kadmin))
	writeFile(t, filepath.Join(dir, "kadm5.acl"), "admin/admin@"+admRealm+" *\n")
	env := append(os.Environ(), "KRB5_CONFIG="+filepath.Join(dir, "krb5.conf"), "KRB5_KDC_PROFILE="+filepath.Join(dir, "kdc.conf"))
	run := func(t *testing.T, prog string, args ...string) string {
		cmd := exec.Command(bin(prog), args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
		}
		return string(out)
	}
	k.local = func(t *testing.T, args ...string) string {
		var q []string
		for _, a := range args {
			q = append(q, `"`+strings.ReplaceAll(a, `"`, `""`)+`"`)
		}
		return run(t, "kadmin.local", "-r", admRealm, "-q", strings.Join(q, " "))
	}
	run(t, "kdb5_util", "create", "-s", "-r", admRealm, "-P", "master-password", "-W")
	k.local(t, "addprinc", "-pw", admPassword, "admin/admin")
	startDaemon(t, env, bin("krb5kdc"), "-n", "-r", admRealm)
	startDaemon(t, env, bin("kadmind"), "-nofork", "-r", admRealm)
	return k
}

// startDaemon runs prog and waits, bounded, for its "starting..." line;
// t.Cleanup stops it by PID.
func startDaemon(t *testing.T, env []string, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Env = env
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		cmd.Wait()
		pr.Close()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "starting...") {
				ready <- true
				break
			}
		}
		ready <- false
		for sc.Scan() { // keep draining so the daemon never blocks on its output
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("%s exited before starting", prog)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not say starting... within 10s", prog)
	}
}

// getBoth logs in as alice through the LB until both hosts answered 200.
func getBoth(t *testing.T, farm *lab.Farm) {
	t.Helper()
	c := labtest.Client(t, farm, "alice")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	seen := map[string]bool{}
	for i := 0; i < 20 && len(seen) < 2; i++ {
		res, err := c.Get(ctx, farm.URL)
		if err != nil {
			t.Fatalf("GET %s: %v", farm.URL, err)
		}
		if res.Status != 200 {
			t.Fatalf("GET %s: status %d from %s, want 200", farm.URL, res.Status, res.Backend)
		}
		seen[res.Backend] = true
	}
	if !seen["server1"] || !seen["server2"] {
		t.Errorf("200 from %v, want both server1 and server2", seen)
	}
}

// TestKadmindKDC runs a farm whose accounts, SPN and keys the lab made in
// the test's KDC through kadmind, breaks and fixes directory scenarios over
// remote kadmin, and checks a failed change is rolled back without
// kdb5_util and the admin password is in no file of the state dir.
func TestKadmindKDC(t *testing.T) {
	k := startKadmindKDC(t)
	state := filepath.Join(t.TempDir(), "state")
	farm := labtest.Start(t, lab.Config{StateDir: state, KDC: k.KDC, Realm: admRealm, FQDN: admFQDN,
		Kadmin: k.Kadmin, Admin: "admin/admin", AdminPassword: admPassword})
	if got := k.local(t, "getprinc", "HTTP/"+admFQDN); !strings.Contains(got, "vno 1") {
		t.Fatalf("HTTP/%s in the test's KDC: %s", admFQDN, got)
	}
	getBoth(t, farm)
	for _, name := range []string{"stale-keytab", "missing-spn"} {
		sc, err := scenario.Find(name)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		var out bytes.Buffer
		res, err := sc.Run(ctx, farm.Admin(), &out, 4)
		cancel()
		if err != nil || !res.OK() {
			t.Fatalf("%s over kadmind: err %v, symptom %v, diagnosed %v, cured %v\n%s", name, err, res.Symptom, res.Diagnosed, res.Cured, out.String())
		}
	}
	getBoth(t, farm)
	t.Run("rollback", func(t *testing.T) { testKadmindRollback(t, k, farm) })
	t.Run("other process", func(t *testing.T) { testKadmindOpenAdmin(t, k, state) })
	checkNoSecret(t, state, admPassword)
	if err := farm.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	// Close leaves the KDC as the farm found it.
	for _, p := range strings.Split(k.local(t, "listprincs"), "\n") {
		if strings.Contains(p, " ") {
			continue // the "Authenticating as ..." banner
		}
		if name := strings.TrimSuffix(p, "@"+admRealm); strings.HasSuffix(p, "@"+admRealm) && !kdc.SystemPrincipal(name) && name != "admin/admin" {
			t.Errorf("%s left in the KDC after Close", p)
		}
	}
}

// testKadmindRollback makes a password reset fail midway: a policy on
// svc-web alone refuses the short password after HTTP/<fqdn> was re-keyed.
// The rollback must give HTTP/<fqdn> its old keys back (kvno and all), so
// both hosts still answer 200.
func testKadmindRollback(t *testing.T, k kadmindKDC, farm *lab.Farm) {
	k.local(t, "addpol", "-minlength", "20", "long")
	k.local(t, "modprinc", "-policy", "long", "svc-web")
	before := k.local(t, "getprinc", "HTTP/"+admFQDN)
	_, err := farm.Admin().ResetPassword(context.Background(), "svc-web", "short-password")
	var ke *kdc.KadminError
	if !errors.As(err, &ke) || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("reset with a password the policy refuses: err = %v, want a *kdc.KadminError saying too short", err)
	}
	if strings.Contains(err.Error(), "rollback") {
		t.Errorf("the rollback failed too: %v", err)
	}
	after := k.local(t, "getprinc", "HTTP/"+admFQDN)
	if kvno(before) != kvno(after) {
		t.Errorf("HTTP/%s kvno %q after the rollback, want %q", admFQDN, kvno(after), kvno(before))
	}
	getBoth(t, farm)
}

// testKadmindOpenAdmin changes the farm as another krbfarm process does
// (OpenAdmin on its state dir): without the password it is refused, with
// KRBFARM_ADMIN_PASSWORD the SPN reaches the test's KDC.
func testKadmindOpenAdmin(t *testing.T, k kadmindKDC, state string) {
	const spn = "HTTP/web.kadmind.localhost"
	t.Setenv(lab.AdminPasswordEnv, "")
	a, err := lab.OpenAdmin(state, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetSPN(context.Background(), spn, "svc-web", true); err == nil || !strings.Contains(err.Error(), lab.AdminPasswordEnv) {
		t.Errorf("setspn without %s: err = %v, want it named", lab.AdminPasswordEnv, err)
	}
	t.Setenv(lab.AdminPasswordEnv, admPassword)
	if a, err = lab.OpenAdmin(state, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.SetSPN(context.Background(), spn, "svc-web", true); err != nil {
		t.Fatalf("setspn from another process: %v", err)
	}
	if got := k.local(t, "getprinc", spn); !strings.Contains(got, "Principal: "+spn+"@") {
		t.Errorf("%s not in the test's KDC after setspn: %s", spn, got)
	}
}

func kvno(getprinc string) string {
	for _, l := range strings.Split(getprinc, "\n") {
		if strings.HasPrefix(l, "Key: vno ") {
			return strings.Fields(l)[2]
		}
	}
	return ""
}

// checkNoSecret fails if any file under dir holds secret.
func checkNoSecret(t *testing.T, dir, secret string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the admin password", p)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walk %s: %v (%d files)", dir, err, n)
	}
}
