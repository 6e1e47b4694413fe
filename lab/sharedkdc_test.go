package lab_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lab/scenario"
)

// Regression test for issue 10 part 1: one `krbfarm keytab push` deleted
// HTTP/apache.krbfarm.localhost and dave/admin, made with kadmin.local by
// whoever shared the KDC. Principals the lab did not create must survive
// every admin command with the same kvno and keys.

// kadminLocal runs the real kadmin.local on farm's database, as a person
// sharing the KDC does, and returns its output.
func kadminLocal(t *testing.T, farm *lab.Farm, request string) string {
	t.Helper()
	cmd := exec.Command(farm.Realm.Tools.Kadmin, "-r", farm.Config.Realm, "-q", request)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5_KDC_PROFILE="+farm.Realm.KDCConf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kadmin.local %s: %v\n%s", request, err, out)
	}
	return string(out)
}

// principalState is getprinc's output less the lines a login changes.
func principalState(t *testing.T, farm *lab.Farm, name string) string {
	t.Helper()
	out := kadminLocal(t, farm, "getprinc "+name)
	if !strings.Contains(out, "Key: vno") {
		t.Fatalf("getprinc %s: no keys (deleted?):\n%s", name, out)
	}
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if !strings.Contains(l, "authentication") && !strings.Contains(l, "Failed password attempts") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// realKinit logs principal in with the real MIT kinit against the farm's KDC.
func realKinit(t *testing.T, farm *lab.Farm, principal, password string) error {
	t.Helper()
	cmd := exec.Command("kinit", "-c", "FILE:"+filepath.Join(t.TempDir(), "cc"), principal+"@"+farm.Config.Realm)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

func TestSharedKDCPrincipalsUntouched(t *testing.T) {
	if _, err := exec.LookPath("kinit"); err != nil {
		t.Skip("kinit not installed (krb5-user)")
	}
	farm := labtest.Start(t, lab.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	theirs := map[string]string{"HTTP/apache.krbfarm.localhost": "apache-pw-1", "dave/admin": "dave-pw-1", "carol": "carol-pw-1"}
	for p, pw := range theirs {
		kadminLocal(t, farm, "addprinc -pw "+pw+"x "+p)
		kadminLocal(t, farm, "cpw -pw "+pw+" "+p) // a hand-made password change: kvno 2
	}
	before := map[string]string{}
	for p := range theirs {
		before[p] = principalState(t, farm, p)
	}
	a := farm.Admin()
	runAdminCommands(ctx, t, a)
	runScenarios(ctx, t, farm)

	for p, pw := range theirs {
		if got := principalState(t, farm, p); got != before[p] {
			t.Errorf("%s changed by the lab:\nbefore:\n%s\nafter:\n%s", p, before[p], got)
		}
		if err := realKinit(t, farm, p, pw); err != nil {
			t.Errorf("kinit %s with its password after the admin commands: %v", p, err)
		}
	}
	others, err := a.Unmanaged(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for p := range theirs {
		if !slices.Contains(others, p) {
			t.Errorf("Unmanaged() = %v, want it to list %s", others, p)
		}
	}
	for _, mine := range []string{"alice", "svc-web", "HTTP/sso.krbfarm.localhost", "bob"} {
		if slices.Contains(others, mine) {
			t.Errorf("Unmanaged() = %v lists %s, which the lab made", others, mine)
		}
	}
}

// runAdminCommands runs each command of `krbfarm setspn/account/ktpass/
// keytab push/iis` once, through the Admin the CLI uses.
func runAdminCommands(ctx context.Context, t *testing.T, a *lab.Admin) {
	t.Helper()
	steps := []struct {
		name string
		run  func() error
	}{
		{"setspn -S", func() error { return a.SetSPN(ctx, "HTTP/web.krbfarm.localhost", "svc-web", true) }},
		{"setspn -D", func() error { return a.DeleteSPN(ctx, "HTTP/web.krbfarm.localhost", "svc-web") }},
		{"account add", func() error { return a.AddUser(ctx, "bob", "bob-password", 0) }},
		{"account reset-password user", func() error { _, err := a.ResetPassword(ctx, "bob", "bob-password-2"); return err }},
		{"account reset-password service", func() error { _, err := a.ResetPassword(ctx, "svc-web", ""); return err }},
		{"ktpass", func() error {
			_, err := a.ExportKeytab("svc-web", filepath.Join(t.TempDir(), "svc.keytab"))
			return err
		}},
		{"keytab push", func() error { return a.PushKeytab(ctx, "server1", nil) }},
		{"keytab push server2", func() error { return a.PushKeytab(ctx, "server2", nil) }},
		{"iis", func() error {
			return a.SetIIS(ctx, "server1", func(s *directory.IISSettings) { s.UseAppPoolCredentials = directory.Bool(false) })
		}},
		{"iis back", func() error {
			return a.SetIIS(ctx, "server1", func(s *directory.IISSettings) { s.UseAppPoolCredentials = directory.Bool(true) })
		}},
		{"iis clock", func() error { return a.SetClockOffset(ctx, "server2", 0) }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	// An SPN whose principal someone else made is refused, not taken over.
	err := a.SetSPN(ctx, "HTTP/apache.krbfarm.localhost", "svc-web", true)
	var um *directory.UnmanagedPrincipalError
	if !errors.As(err, &um) || um.Principal != "HTTP/apache.krbfarm.localhost" {
		t.Errorf("setspn -S on a principal made outside the lab: err = %v, want *UnmanagedPrincipalError", err)
	}
	// The doctor's --user and kinit log in as a principal outside the
	// directory with the password given to the Admin (KRBFARM_PASSWORD).
	a.Password = "carol-pw-1"
	defer func() { a.Password = "" }()
	if _, err := a.Kinit(ctx, "carol", "FILE:"+filepath.Join(t.TempDir(), "cc")); err != nil {
		t.Errorf("Kinit carol with Admin.Password: %v", err)
	}
	r, err := a.Diagnose(ctx, doctor.Options{User: "carol", Requests: 2})
	if err != nil || !r.Healthy() {
		t.Errorf("Diagnose as carol: err %v, report %+v", err, r)
	}
}

// runScenarios breaks and fixes the farm with scenarios that re-key, move
// SPNs and push keytabs.
func runScenarios(ctx context.Context, t *testing.T, farm *lab.Farm) {
	t.Helper()
	for _, name := range []string{"spn-on-machine-accounts", "stale-keytab", "enctype-mismatch", "missing-spn"} {
		sc, err := scenario.Find(name)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		res, err := sc.Run(ctx, farm.Admin(), &out, 2)
		if err != nil || !res.OK() {
			t.Fatalf("scenario %s: err %v, result %+v\n%s", name, err, res, out.String())
		}
	}
}
