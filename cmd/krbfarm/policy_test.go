package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestGMSAAndGPOCommands drives a farm run by `krbfarm up` through issue
// 12's commands: a plain account's rotation leaves the hosts stale, a
// gMSA's reaches them by itself; a GPO linked to the service account's OU
// stops a host's pool after its gpupdate, linked to the servers' OU above
// the baseline it starts it again. The doctor confirms each state.
func TestGMSAAndGPOCommands(t *testing.T) {
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
		{"rotate the plain account", []string{"account", "rotate", "svc-web"}, 0, []string{"kvno now 2", "server1    STALE: still holds kvno 1", "server2    STALE"}},
		{"doctor recommends a gMSA", []string{"doctor"}, 1, []string{"FAIL  rotation", "use a gMSA", "Verdict: password rotation of a plain shared account"}},
		{"gmsa without hosts", []string{"account", "add", "gmsa-web$", "--gmsa"}, 2, []string{"--gmsa needs --hosts"}},
		{"add the gMSA", []string{"account", "add", "gmsa-web$", "--gmsa", "--hosts", "server1,server2"}, 0, []string{`KRBFARM\gmsa-web$ added in CN=Managed Service Accounts`, "SERVER1$, SERVER2$"}},
		{"move the SPN off svc-web", []string{"setspn", "-D", spn, "svc-web"}, 0, nil},
		{"onto the gMSA", []string{"setspn", "-S", spn, `KRBFARM\gmsa-web$`}, 0, []string{"Updated object"}},
		{"server1 runs as it", []string{"iis", "server1", "--identity", "gmsa-web$"}, 0, []string{"(gmsa-web$)"}},
		{"server2 runs as it", []string{"iis", "server2", "--identity", "gmsa-web$"}, 0, nil},
		{"rotate the gMSA", []string{"account", "rotate", "gmsa-web$"}, 0, []string{"kvno now 2", "server1    fetched the new key (kvno 2)", "server2    fetched the new key (kvno 2)"}},
		{"doctor healthy after the rotation", []string{"doctor"}, 0, []string{"Verdict: healthy", "hosts fetch each new key themselves"}},
		{"link the baseline to the servers", []string{"gpo", "link", "Web Servers Baseline", "OU=Web Servers,DC=krbfarm,DC=localhost"}, 0, []string{`linked to OU=Web Servers`}},
		{"link to a container", []string{"gpo", "link", "IIS App Pool Logon", "CN=Computers"}, 1, []string{"is a container, not an OU"}},
		{"bad gpupdate argument", []string{"gpupdate", "server2", "/target:user"}, 2, []string{"unexpected"}},
		{"gpupdate server2", []string{"gpupdate", "server2", "/force"}, 0, []string{"GPOs applied: Web Servers Baseline", "event 5021", "not KRBFARM\\gmsa-web$"}},
		{"doctor names the GPO scope", []string{"doctor"}, 1, []string{"FAIL  server2 app pool", "WARN  server1 policy", "Verdict: GPO scope"}},
		{"move SERVER2$ out of the OU", []string{"account", "move", "SERVER2$", "Staff"}, 0, []string{"moved to OU=Staff"}},
		{"gpupdate server2 again", []string{"gpupdate", "server2"}, 0, []string{"GPOs applied: none", "app pool sso started", "local policy"}},
		{"unlink", []string{"gpo", "unlink", "Web Servers Baseline", "Web Servers"}, 0, nil},
		{"gpo list", []string{"gpo", "list"}, 0, []string{`"Web Servers Baseline"`, "linked to: none", "host server2  last gpupdate applied: none; pool started"}},
		{"doctor healthy", []string{"doctor"}, 0, []string{"Verdict: healthy"}},
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
}
