package directory

import (
	"errors"
	"strings"
	"testing"
)

// keyKVNOs maps each host decrypting with account to the kvno it holds
// ("!" marks a stale one).
func keyKVNOs(d *Directory, account string) map[string]string {
	m := map[string]string{}
	for _, k := range d.KeyStates(account) {
		v := string(rune('0' + k.KVNO))
		if !k.Current {
			v += "!"
		}
		m[k.Host] = v
	}
	return m
}

// TestRotation: rotating a plain shared account leaves every host on the
// old key until a push; rotating a gMSA moves every allowed host to the
// new key by itself, and a host no longer allowed keeps the old one.
func TestRotation(t *testing.T) {
	d := testDirectory()
	if _, err := d.Rotate("svc-web"); err != nil {
		t.Fatal(err)
	}
	if got := keyKVNOs(d, "svc-web"); got["server1"] != "1!" || got["server2"] != "1!" {
		t.Errorf("after rotating svc-web: %v, want both hosts stale at kvno 1", got)
	}
	g, err := d.AddGMSA("gmsa-web", []string{"server1", "SERVER2$"})
	if err != nil {
		t.Fatal(err)
	}
	if g.Name != "gmsa-web$" || g.Kind != KindGMSA || strings.Join(g.AllowedHosts, ",") != "SERVER1$,SERVER2$" || OUOf(g) != DefaultGMSAOU {
		t.Errorf("gMSA = %+v", g)
	}
	for _, h := range d.Hosts {
		h.IIS.Identity = g.Name
		if err := d.CheckPoolIdentity(h); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := d.Rotate("gmsa-web$"); err != nil {
			t.Fatal(err)
		}
	}
	if got := keyKVNOs(d, "gmsa-web$"); got["server1"] != "3" || got["server2"] != "3" {
		t.Errorf("after two gMSA rotations: %v, want both hosts current at kvno 3", got)
	}
	g.AllowedHosts = g.AllowedHosts[:1] // server2 taken out of the list
	d.Rotate("gmsa-web$")
	if got := keyKVNOs(d, "gmsa-web$"); got["server1"] != "4" || got["server2"] != "3!" {
		t.Errorf("server2 no longer allowed: %v, want server1 4, server2 stale at 3", got)
	}
	var re *RetrieveError
	if err := d.CheckPoolIdentity(d.Host("server2")); !errors.As(err, &re) || !strings.Contains(err.Error(), "Test-ADServiceAccount: False") {
		t.Errorf("server2 running as a gMSA it may not retrieve: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestAddGMSARefuses(t *testing.T) {
	d := testDirectory()
	for _, tt := range []struct{ name, host, want string }{
		{"gmsa web", "server1", "may not contain spaces"},
		{"gmsa-web", "server9", `host "server9": not in this farm`},
		{"SERVER1$", "server1", "already exists"},
	} {
		if _, err := d.AddGMSA(tt.name, []string{tt.host}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddGMSA(%q, %s) = %v, want %q", tt.name, tt.host, err, tt.want)
		}
	}
	d.Accounts = append(d.Accounts, &Account{Name: "x$", Kind: "msa", Password: "p", KVNO: 1})
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), `kind "msa": use user, service, machine or gmsa`) {
		t.Errorf("Validate with kind msa: %v", err)
	}
}

// TestGPOScope: "Log on as a batch job" is a computer setting: a GPO
// linked to the service account's OU changes nothing on the hosts; linked
// to the servers' OU it applies, on each host only after its gpupdate,
// and of two GPOs linked there the one with the highest precedence wins.
func TestGPOScope(t *testing.T) {
	d := testDirectory()
	right := func(host string) bool { ok, _ := d.BatchRight(d.Host(host)); return ok }
	steps := []struct {
		name   string
		op     func() error
		s1, s2 bool
	}{
		{"fresh: local policy", func() error { return nil }, true, true},
		{"baseline linked to the servers' OU, no gpupdate yet", func() error {
			_, err := d.LinkGPO(GPOBaseline, "OU=Web Servers,DC=krbfarm,DC=localhost", 0)
			return err
		}, true, true},
		{"server2 runs gpupdate", gpupdate(d, "server2"), true, false},
		{"app pool GPO linked to svc-web's OU", func() error { _, err := d.LinkGPO(GPOAppPool, "Service Accounts", 0); return err }, true, false},
		{"gpupdate on both: still only the baseline applies", gpupdate(d, "server1", "server2"), false, false},
		{"app pool GPO linked to the servers' OU below the baseline", func() error { _, err := d.LinkGPO(GPOAppPool, OUWebServers, 0); return err }, false, false},
		{"gpupdate: the baseline still wins", gpupdate(d, "server1", "server2"), false, false},
		{"relinked with order 1", func() error {
			if _, err := d.UnlinkGPO(GPOAppPool, OUWebServers); err != nil {
				return err
			}
			_, err := d.LinkGPO(GPOAppPool, OUWebServers, 1)
			return err
		}, false, false},
		{"gpupdate server1 only", gpupdate(d, "server1"), true, false},
		{"gpupdate server2", gpupdate(d, "server2"), true, true},
		{"SERVER2$ moved out of the OU, gpupdate", func() error {
			if _, err := d.MoveAccount("SERVER2$", "OU=Staff"); err != nil {
				return err
			}
			return gpupdate(d, "server2")()
		}, true, true},
		{"Deny on server1 beats the GPO", func() error { d.Host("server1").IIS.BatchLogonRight = Bool(false); return nil }, false, true},
	}
	for _, s := range steps {
		if err := s.op(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if g1, g2 := right("server1"), right("server2"); g1 != s.s1 || g2 != s.s2 {
			t.Errorf("%s: server1 %v server2 %v, want %v %v", s.name, g1, g2, s.s1, s.s2)
		}
	}
	if _, why := d.BatchRight(d.Host("server2")); !strings.Contains(why, "local policy") {
		t.Errorf("server2 in OU=Staff, no GPO there: %s", why)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func gpupdate(d *Directory, hosts ...string) func() error {
	return func() error {
		for _, h := range hosts {
			if _, err := d.GPUpdate(h); err != nil {
				return err
			}
		}
		return nil
	}
}

func TestGPORefuses(t *testing.T) {
	d := testDirectory()
	for _, tt := range []struct {
		op   func() error
		want string
	}{
		{func() error { _, err := d.LinkGPO("Nope", OUWebServers, 0); return err }, `GPO "Nope": not found`},
		{func() error { _, err := d.LinkGPO(GPOBaseline, "OU=Nowhere", 0); return err }, `OU "OU=Nowhere": no such OU`},
		{func() error { _, err := d.LinkGPO(GPOBaseline, "CN=Computers", 0); return err }, "is a container, not an OU"},
		{func() error { _, err := d.UnlinkGPO(GPOBaseline, OUWebServers); return err }, "is not linked to OU=Web Servers"},
		{func() error { _, err := d.MoveAccount("nobody", OUStaff); return err }, "not found"},
		{func() error { _, err := d.GPUpdate("server9"); return err }, "not in this farm"},
	} {
		if err := tt.op(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("got %v, want %q", err, tt.want)
		}
	}
	d.LinkGPO(GPOBaseline, OUWebServers, 0)
	if _, err := d.LinkGPO(strings.ToUpper(GPOBaseline), "web servers", 0); err == nil || !strings.Contains(err.Error(), "already linked") {
		t.Errorf("second link: %v", err)
	}
	d.Links[OUWebServers] = append(d.Links[OUWebServers], "Ghost")
	if err := d.Validate(); err == nil || !strings.Contains(err.Error(), `gpo_links[OU=Web Servers][1] "Ghost": no such GPO`) {
		t.Errorf("Validate: %v", err)
	}
}
