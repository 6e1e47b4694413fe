package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/krbfarm/krbfarm/lab"
)

// TestUpScenarioReadyWaitDoctor is issue 9 items 4 and 5: a script can
// wait for a farm left broken as a scenario (--ready-file, krbfarm wait),
// and a plain `krbfarm doctor` then diagnoses that scenario as its user
// (large-token: bob, not alice).
func TestUpScenarioReadyWaitDoctor(t *testing.T) {
	bin := buildKrbfarm(t)
	dir := t.TempDir()
	state, ready := filepath.Join(dir, "state"), filepath.Join(dir, "ready")
	up := exec.Command(bin, "up", "--state", state, "--listen", "127.0.0.1:0", "--scenario", "large-token", "--ready-file", ready)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Process.Kill(); up.Wait() })
	out, err := exec.Command(bin, "wait", "--state", state, "--timeout", "90s").CombinedOutput()
	if err != nil {
		t.Fatalf("krbfarm wait: %v\n%s", err, out)
	}
	in, err := lab.ReadInfo(state)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Ready || in.Scenario != "large-token" {
		t.Errorf("farm.json ready=%v scenario=%q; want true, large-token", in.Ready, in.Scenario)
	}
	if b, err := os.ReadFile(ready); err != nil || strings.TrimSpace(string(b)) != in.URL {
		t.Errorf("ready file: %q, %v; want the URL %s", b, err, in.URL)
	}
	out, err = exec.Command(bin, "doctor", "--state", state).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("krbfarm doctor: %v; want exit 1\n%s", err, out)
	}
	for _, want := range []string{"scenario large-token", "bob's (600 groups) Authorization header", "Verdict: large token", "requests to " + in.URL} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	up.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, up); err != nil {
		t.Errorf("up after SIGINT: %v", err)
	}
	if _, err := os.Stat(ready); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ready file after stop: %v; want it removed", err)
	}
}

// TestWaitTimesOut: wait on a dir with no farm gives up, naming why.
func TestWaitTimesOut(t *testing.T) {
	out, err := exec.Command(buildKrbfarm(t), "wait", "--state", t.TempDir(), "--timeout", "200ms").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "not ready") || !strings.Contains(string(out), "no running farm") {
		t.Errorf("wait on an empty dir: %v\n%s; want a failure naming the missing farm", err, out)
	}
}

// TestHintWithoutScenarioRefused: --hint alone was silently ignored.
func TestHintWithoutScenarioRefused(t *testing.T) {
	out, err := exec.Command(buildKrbfarm(t), "up", "--hint", "--state", t.TempDir()).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "--hint needs --scenario") {
		t.Errorf("up --hint: %v\n%s; want exit 2 naming --scenario", err, out)
	}
}
