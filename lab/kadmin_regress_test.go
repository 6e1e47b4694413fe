package lab

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// Regression tests for issue 8 item 1: names and passwords that became
// kadmin.local requests of their own. They use only API that predates the
// fix, so they also build (and fail) against the old code.

// newTestAdmin provisions a real MIT realm with the default farm's users
// and directory, and an Admin on it without host processes. kadmin.local
// and kdb5_util work on the database directly: no KDC process is started.
func newTestAdmin(t testing.TB) *Admin {
	t.Helper()
	tl, err := kdc.FindTools("", false)
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()
	c := Config{}.withDefaults()
	port, err := kdcPort(0)
	if err != nil {
		t.Fatal(err)
	}
	r := &kdc.Realm{Name: c.Realm, Dir: filepath.Join(dir, "kdc"), Domain: c.domain(), Port: port, Tools: tl}
	if err := kdc.Provision(ctx, r, "master-password"); err != nil {
		t.Fatal(err)
	}
	for _, u := range c.Users {
		if err := r.AddPrincipal(ctx, u.Name, u.Password); err != nil {
			t.Fatal(err)
		}
	}
	d := directory.New(c.seed())
	if err := d.Save(dir); err != nil {
		t.Fatal(err)
	}
	if err := directory.SyncKDC(ctx, r, d); err != nil {
		t.Fatal(err)
	}
	return &Admin{Dir: dir, FQDN: c.FQDN, realm: r}
}

// kdcState is everything the KDC and the directory hold: a kdb5_util dump
// (every principal, key and kvno) and directory.json.
func kdcState(t testing.TB, a *Admin) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dump")
	cmd := exec.Command(a.realm.Tools.DBUtil, "-r", a.realm.Name, "dump", path)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+a.realm.Krb5Conf, "KRB5_KDC_PROFILE="+a.realm.KDCConf)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Log(string(out))
		t.Fatal(err)
	}
	dump, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.ReadFile(directory.Path(a.Dir))
	if err != nil {
		t.Fatal(err)
	}
	synced, _ := os.ReadFile(filepath.Join(a.realm.Dir, "synced.json")) // absent before the fix
	return string(dump) + "\n--- directory.json\n" + string(dir) + "\n--- synced.json\n" + string(synced)
}

// assertUnchanged fails t if the KDC or directory differ from before.
func assertUnchanged(t testing.TB, a *Admin, before string) {
	t.Helper()
	if after := kdcState(t, a); after != before {
		t.Errorf("the KDC database or directory changed:\n%s", firstDiff(before, after))
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		if i >= len(al) || i >= len(bl) || al[i] != bl[i] {
			get := func(l []string) string {
				if i < len(l) {
					return l[i]
				}
				return "(end)"
			}
			return "before: " + trunc(get(al)) + "\nafter:  " + trunc(get(bl))
		}
	}
	return "(no line differs)"
}

func trunc(s string) string {
	if len(s) > 160 {
		return s[:160] + "..."
	}
	return s
}

// `krbfarm account add --state F $'eve\ncpw -pw pwned2 alice\n'` changed
// alice's password.
func TestAccountAddNewlineInNameIsRefused(t *testing.T) {
	a := newTestAdmin(t)
	before := kdcState(t, a)
	name := "eve\ncpw -pw pwned2 alice\n"
	err := a.AddUser(context.Background(), name, name+"-password", 0)
	if err == nil || !strings.Contains(err.Error(), "control character") {
		t.Errorf("AddUser(%q) = %v; want a refusal naming the control character", name, err)
	}
	assertUnchanged(t, a, before)
}

// `users: [{name: bob, password: "p\ncpw -pw pwned3 alice\n"}]` changed
// alice's password at provisioning while farm.json showed the old one.
func TestYAMLPasswordWithNewlineIsRefused(t *testing.T) {
	const yml = "users: [{name: alice}, {name: bob, password: \"p\\ncpw -pw pwned3 alice\\n\"}]\n"
	c, err := DecodeConfig(strings.NewReader(yml))
	if err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	err = c.Validate()
	if err == nil || !strings.Contains(err.Error(), "users[1].password") {
		t.Errorf("Validate = %v; want an error naming users[1].password", err)
	}
	if err != nil && strings.Contains(err.Error(), "pwned3") {
		t.Errorf("the error shows the password: %v", err)
	}
	// And the realm refuses it even when Validate is bypassed.
	a := newTestAdmin(t)
	before := kdcState(t, a)
	if err := a.realm.AddPrincipal(context.Background(), "bob", c.Users[1].Password); err == nil {
		t.Errorf("AddPrincipal with a newline in the password succeeded")
	}
	assertUnchanged(t, a, before)
}

// `krbfarm setspn -S $'HTTP/a\nquit\n' svc-web` printed "Updated object"
// and left svc-web, SERVERn$ and the HTTP SPN deleted from the KDC.
func TestSetSPNNewlineIsRefused(t *testing.T) {
	a := newTestAdmin(t)
	before := kdcState(t, a)
	spn := "HTTP/a\nquit\n"
	err := a.SetSPN(context.Background(), spn, DefaultServiceAccount, true)
	if err == nil {
		t.Errorf("SetSPN(%q) succeeded; want a refusal", spn)
	}
	assertUnchanged(t, a, before)
}

// A line starting with '!' is run by kadmin.local's command library
// through system(): a name could run any shell command.
func TestNameCannotRunShellCommand(t *testing.T) {
	a := newTestAdmin(t)
	before := kdcState(t, a)
	marker := filepath.Join(t.TempDir(), "pwned")
	name := "x\n!touch " + marker + " #"
	if err := a.AddUser(context.Background(), name, "x-password", 0); err == nil {
		t.Errorf("AddUser(%q) succeeded; want a refusal", name)
	}
	if err := a.realm.AddPrincipal(context.Background(), name, "x-password"); err == nil {
		t.Errorf("AddPrincipal(%q) succeeded; want a refusal", name)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s exists: kadmin.local ran a shell command from the name", marker)
	}
	assertUnchanged(t, a, before)
}

// A refused step changes nothing, however it is refused: names that are
// not accounts in AD reach neither the KDC nor directory.json.
func TestAccountAddRefusesNonSAMNames(t *testing.T) {
	a := newTestAdmin(t)
	before := kdcState(t, a)
	for _, name := range []string{"two words", "-q", "-randkey", "a/b", "bob@EVIL.REALM", `x"y`, "x\ty", "SERVER9$", "abcdefghijklmnopqrstu", "", "dot."} {
		t.Run(name, func(t *testing.T) {
			if err := a.AddUser(context.Background(), name, "a-password", 0); err == nil {
				t.Errorf("AddUser(%q) succeeded; want a refusal", name)
			}
		})
	}
	assertUnchanged(t, a, before)
	if !bytes.Contains([]byte(before), []byte("svc-web@")) {
		t.Fatalf("the dump lacks svc-web: the test realm is not the default farm's")
	}
}
