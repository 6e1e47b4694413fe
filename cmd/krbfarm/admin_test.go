package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminCommandsOnRunningFarm drives a farm run by `krbfarm up` from
// other processes: setspn, doctor, account reset-password, keytab push,
// ktpass, checked with the real klist and kvno.
func TestAdminCommandsOnRunningFarm(t *testing.T) {
	bin := buildKrbfarm(t)
	state := t.TempDir()
	startUp(t, bin, "--state", state, "--listen", "127.0.0.1:0")
	const spn = "HTTP/sso.krbfarm.localhost"
	steps := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"query holder", []string{"setspn", "-Q", spn}, 0, []string{`KRBFARM\svc-web`, "Existing SPN found!"}},
		{"duplicate refused", []string{"setspn", "-S", spn, "SERVER1$"}, 1, []string{"Duplicate SPN found, aborting operation!", `KRBFARM\svc-web`}},
		{"doctor healthy", []string{"doctor"}, 0, []string{"PASS  SPN holder", "Verdict: healthy"}},
		{"reset password", []string{"account", "reset-password", `KRBFARM\svc-web`}, 0, []string{"kvno now 2"}},
		{"push to server1 only", []string{"keytab", "push", "server1"}, 0, []string{"pushed to server1"}},
		{"doctor names the stale keytab", []string{"doctor"}, 1, []string{"FAIL  server2 keytab", "KRB_AP_ERR_BADKEYVER", "stale keytab"}},
		{"push to server2", []string{"keytab", "push", "server2"}, 0, nil},
		{"add a duplicate without check", []string{"setspn", "-A", spn, "SERVER2$"}, 0, []string{"Updated object"}},
		{"-X lists it", []string{"setspn", "-X"}, 0, []string{`KRBFARM\SERVER2$`, "found 1 group"}},
		{"doctor names the duplicate", []string{"doctor", "-o", "json"}, 1, []string{`"cause": "duplicate-spn"`}},
		{"delete it", []string{"setspn", "-D", spn, "SERVER2$"}, 0, nil},
		{"list svc-web", []string{"setspn", "-L", "svc-web"}, 0, []string{spn, "kvno 2"}},
		{"ktpass", []string{"ktpass", "svc-web", "--out", filepath.Join(state, "svc.keytab")}, 0, []string{"kvno 2"}},
		{"add a user in 600 groups", []string{"account", "add", "bob", "--groups", "600"}, 0, []string{"bob@KRBFARM.LOCALHOST added, member of 600 groups"}},
		{"kinit bob", []string{"kinit", "bob", "-c", filepath.Join(state, "bob.cc")}, 0, []string{"Default principal: bob@KRBFARM.LOCALHOST", "carrying 600 group SIDs"}},
		{"kinit an unknown user", []string{"kinit", "nobody", "-c", filepath.Join(state, "x.cc")}, 1, []string{"nobody"}},
		{"doctor as bob finds the large token", []string{"doctor", "--user", "bob"}, 1, []string{"FAIL  server2 token", "Verdict: large token"}},
		{"raise http.sys limits", []string{"iis", "server1", "--maxFieldLength", "65534", "--maxRequestBytes", "65534"}, 0, []string{"MaxFieldLength 65534, MaxRequestBytes 65534"}},
		{"doctor healthy again", []string{"doctor"}, 0, []string{"Verdict: healthy", "server1 token", "under MaxFieldLength 65534"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			out, err := exec.Command(bin, append(append(s.args[:1:1], "--state", state), s.args[1:]...)...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			if code != s.code {
				t.Fatalf("exit %d; want %d\n%s", code, s.code, out)
			}
			for _, w := range s.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// The real MIT tools agree: kvno asks the KDC, klist reads the exported keytab.
	env := append(os.Environ(), "KRB5_CONFIG="+filepath.Join(state, "kdc", "krb5.conf"), "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "cc"))
	run := func(stdin string, args ...string) string {
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("alice-password\n", "kinit", "alice")
	if out := run("", "kvno", "-k", filepath.Join(state, "svc.keytab"), spn); !strings.Contains(out, "kvno = 2, keytab entry valid") {
		t.Errorf("kvno -k: %s; want kvno 2 and a valid keytab entry", out)
	}
	if out := run("", "klist", "-kte", filepath.Join(state, "hosts", "server2", "http.keytab")); !strings.Contains(out, "2 ") || !strings.Contains(out, "aes256-cts-hmac-sha1-96") {
		t.Errorf("klist -kte server2: %s", out)
	}
}
