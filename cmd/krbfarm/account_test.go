package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountAddRefusesBadNames: `account add` and `setspn` refuse names
// AD would not accept with exit status 2 and an error naming the argument
// and the rule, and the KDC's principals stay as they were; the reproduced
// injections (issue 8) change nothing, and alice still logs in.
func TestAccountAddRefusesBadNames(t *testing.T) {
	bin := buildKrbfarm(t)
	state := t.TempDir()
	startUp(t, bin, "--state", state, "--listen", "127.0.0.1:0")
	before := listPrincs(t, state)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"newline runs cpw", []string{"account", "add", "eve\ncpw -pw pwned2 alice\n"}, []string{`USER "eve\ncpw -pw pwned2 alice\n"`, "control characters", "sAMAccountName rules"}},
		{"two words", []string{"account", "add", "two words"}, []string{`USER "two words": a user name may not contain spaces`, "1-20 characters"}},
		{"an option", []string{"account", "add", "--", "-q"}, []string{`USER "-q"`, "may not start with '-'"}},
		{"another realm", []string{"account", "add", "bob@EVIL.REALM"}, []string{`may not contain '@'`}},
		{"a computer account", []string{"account", "add", "SERVER9$"}, []string{"may not end with '$'"}},
		{"too long", []string{"account", "add", "abcdefghijklmnopqrstu"}, []string{"21 characters long; at most 20"}},
		{"password with a newline", []string{"account", "add", "bob", "--password", "p\ncpw -pw pwned3 alice"}, []string{"--password: a password may not contain control characters"}},
		{"setspn newline", []string{"setspn", "-S", "HTTP/a\nquit\n", "svc-web"}, []string{`SPN "HTTP/a\nquit\n"`, "service/host"}},
		{"setspn no host", []string{"setspn", "-A", "HTTP/", "svc-web"}, []string{`SPN "HTTP/"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append(tt.args[:1:1], "--state", state), tt.args[1:]...)
			out, err := exec.Command(bin, args...).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("%q: %v; want exit status 2\n%s", tt.args, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(string(out), "pwned3") || strings.Contains(string(out), "Updated object") {
				t.Errorf("output shows the password or claims success:\n%s", out)
			}
		})
	}
	if after := listPrincs(t, state); after != before {
		t.Errorf("the KDC's principals changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	out, err := exec.Command(bin, "kinit", "--state", state, "alice", "-c", filepath.Join(state, "alice.cc")).CombinedOutput()
	if err != nil {
		t.Errorf("alice cannot log in with her password any more: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "account", "add", "--state", state, "o'brien", "--password", `p "q" \ r`).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "o'brien@KRBFARM.LOCALHOST added") {
		t.Errorf("account add o'brien: %v\n%s", err, out)
	}
}

// listPrincs is the KDC's principal list, from kadmin.local itself.
func listPrincs(t *testing.T, state string) string {
	t.Helper()
	kdc := filepath.Join(state, "kdc")
	prog, err := exec.LookPath("kadmin.local")
	if err != nil {
		prog = "/usr/sbin/kadmin.local"
	}
	cmd := exec.Command(prog, "-r", "KRBFARM.LOCALHOST", "-q", "listprincs")
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+filepath.Join(kdc, "krb5.conf"), "KRB5_KDC_PROFILE="+filepath.Join(kdc, "kdc.conf"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kadmin.local listprincs: %v", err)
	}
	return string(out)
}
