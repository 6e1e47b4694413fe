package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// farmDesc is what the external doctor needs from farm.json: only what an
// engineer would know of a real deployment.
type farmDesc struct {
	URL, Realm, KDC string
	CACert          string `json:"ca_cert"`
	LB              struct{ Addr string }
	Backends        []struct{ Name, Addr string }
	Users           []struct{ Principal, Password string }
	Processes       []int
}

func readFarmDesc(t *testing.T, state string) farmDesc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "farm.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d farmDesc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// runDoctor runs `krbfarm doctor --url ...` with the password in env and
// returns its output and exit status.
func runDoctor(t *testing.T, bin string, d farmDesc, password string, extra ...string) (string, int) {
	t.Helper()
	user, _, _ := strings.Cut(d.Users[0].Principal, "@")
	args := []string{"doctor", "--url", d.URL, "--realm", d.Realm, "--kdc", d.KDC, "--user", user,
		"--ca", d.CACert, "--connect-to", d.LB.Addr, "-n", "4"}
	for _, b := range d.Backends {
		args = append(args, "--backend", "http://"+b.Addr)
	}
	cmd := exec.Command(bin, append(args, extra...)...)
	cmd.Env = append(os.Environ(), "KRBFARM_PASSWORD="+password, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "none"))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestUpScenarioAndExternalDoctor: `up --scenario clock-skew` leaves the
// farm broken without a hint; the external doctor, given only flags, finds
// the skew (exit 1, -o json), says healthy once fixed (exit 0) and cannot
// run with a wrong password (exit 2); SIGINT stops everything; --hint
// prints the hint.
func TestUpScenarioAndExternalDoctor(t *testing.T) {
	bin := buildKrbfarm(t)
	state := t.TempDir()
	cmd, out := startUp(t, bin, "--state", state, "--listen", "127.0.0.1:0", "--scenario", "clock-skew")
	if !strings.Contains(out, "Scenario clock-skew: something is wrong") || strings.Contains(out, "Hint") {
		t.Errorf("up --scenario output: want the scenario line and no hint:\n%s", out)
	}
	d := readFarmDesc(t, state)
	pw := d.Users[0].Password

	got, code := runDoctor(t, bin, d, pw, "-o", "json")
	var r struct{ Cause string }
	if code != 1 || json.Unmarshal([]byte(got[:strings.LastIndex(got, "}")+1]), &r) != nil || r.Cause != "clock-skew" {
		t.Errorf("doctor on the skewed farm: exit %d, want 1 and cause clock-skew:\n%s", code, got)
	}
	if fix, err := exec.Command(bin, "iis", "server2", "--clock-offset", "0", "--state", state).CombinedOutput(); err != nil {
		t.Fatalf("fix: %v\n%s", err, fix)
	}
	if got, code := runDoctor(t, bin, d, pw); code != 0 || !strings.Contains(got, "Verdict: healthy") {
		t.Errorf("doctor on the fixed farm: exit %d, want 0 and healthy:\n%s", code, got)
	}
	if got, code := runDoctor(t, bin, d, "wrong"); code != 2 || !strings.Contains(got, "wrong password") || strings.Contains(got, "wrong\n") {
		t.Errorf("doctor with a wrong password: exit %d, want 2 naming it:\n%s", code, got)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("up after SIGINT: %v", err)
	}
	for _, pid := range d.Processes {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still running after SIGINT", pid)
		}
	}
	cmd, out = startUp(t, bin, "--state", t.TempDir(), "--listen", "127.0.0.1:0", "--scenario", "clock-skew", "--hint")
	if !strings.Contains(out, "Hint: clock skew") {
		t.Errorf("up --scenario --hint: no hint:\n%s", out)
	}
	cmd.Process.Signal(syscall.SIGINT)
	waitExit(t, cmd)
}
