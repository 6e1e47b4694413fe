package directory

import (
	"errors"
	"strings"
	"testing"
)

func testDirectory() *Directory {
	return New(Seed{Realm: "KRBFARM.LOCALHOST", Domain: "krbfarm.localhost", SPN: "HTTP/sso.krbfarm.localhost",
		ServiceAccount: "svc-web", ServicePassword: "svc-password",
		Users: []SeedUser{{Name: "alice", Password: "alice-password"}},
		Hosts: []SeedHost{{Name: "server1"}, {Name: "server2"}}})
}

// TestSetSPN walks the story and the other setspn semantics on one
// directory, step by step.
func TestSetSPN(t *testing.T) {
	const spn = "HTTP/sso.krbfarm.localhost"
	d := testDirectory()
	steps := []struct {
		name    string
		op      func() error
		dupOf   string // want a DuplicateSPNError naming this holder
		wantErr string // or an error containing this
		holders []string
	}{
		{"default: svc-web holds the farm SPN", func() error { return nil }, "", "", []string{"svc-web"}},
		{"-D removes it", func() error { _, err := d.DeleteSPN(spn, `KRBFARM\svc-web`); return err }, "", "", nil},
		{"-D again says it is not held", func() error { _, err := d.DeleteSPN(spn, "svc-web"); return err }, "", "does not hold", nil},
		{"-S on SERVER1$ works", func() error { _, err := d.AddSPN(spn, "SERVER1$", true); return err }, "", "", []string{"SERVER1$"}},
		{"-S on SERVER2$ is refused", func() error { _, err := d.AddSPN(spn, "server2$", true); return err }, `KRBFARM\SERVER1$`, "", []string{"SERVER1$"}},
		{"-S on the holder itself is refused too", func() error { _, err := d.AddSPN(strings.ToLower(spn), "SERVER1$", true); return err }, `KRBFARM\SERVER1$`, "", []string{"SERVER1$"}},
		{"-A adds the duplicate", func() error { _, err := d.AddSPN(spn, "SERVER2$", false); return err }, "", "", []string{"SERVER1$", "SERVER2$"}},
		{"unknown account", func() error { _, err := d.AddSPN(spn, "nobody", false); return err }, "", "not found", []string{"SERVER1$", "SERVER2$"}},
		{"bad SPN", func() error { _, err := d.AddSPN("sso", "svc-web", false); return err }, "", "service/host", []string{"SERVER1$", "SERVER2$"}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			err := s.op()
			var dup *DuplicateSPNError
			switch {
			case s.dupOf != "":
				if !errors.As(err, &dup) || dup.Holders[0] != s.dupOf {
					t.Fatalf("err = %v; want duplicate held by %s", err, s.dupOf)
				}
				if !strings.Contains(err.Error(), "Duplicate SPN found, aborting operation") {
					t.Errorf("err = %q; want Windows' wording", err)
				}
			case s.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), s.wantErr) {
					t.Fatalf("err = %v; want one containing %q", err, s.wantErr)
				}
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			var got []string
			for _, a := range d.Holders(spn) {
				got = append(got, a.Name)
			}
			if strings.Join(got, ",") != strings.Join(s.holders, ",") {
				t.Errorf("holders = %v; want %v", got, s.holders)
			}
		})
	}
	dups := d.Duplicates()
	if len(dups) != 1 || len(dups[strings.ToLower(spn)]) != 2 {
		t.Errorf("Duplicates = %v; want %s on two accounts", dups, spn)
	}
}

func TestAccountNames(t *testing.T) {
	d := testDirectory()
	for _, name := range []string{"svc-web", `KRBFARM\svc-web`, "SVC-WEB", "svc-web@KRBFARM.LOCALHOST", "SERVER1$", "server1$", `CORP\server2$`, "alice"} {
		t.Run(name, func(t *testing.T) {
			if d.Account(name) == nil {
				t.Errorf("Account(%q) = nil", name)
			}
		})
	}
	if d.Account("server1") != nil {
		t.Error(`Account("server1") found a machine account without its $`)
	}
}

func TestResetPasswordBumpsKVNO(t *testing.T) {
	d := testDirectory()
	a, err := d.ResetPassword(`KRBFARM\svc-web`, "")
	if err != nil || a.KVNO != 2 || a.Password == "svc-password" {
		t.Fatalf("reset: %v kvno %d; want kvno 2 and a new password", err, a.KVNO)
	}
	h := d.Host("server1")
	if h.Creds["svc-web"].KVNO != 1 {
		t.Errorf("host cred kvno = %d; want 1 (not yet pushed)", h.Creds["svc-web"].KVNO)
	}
}
