package lab_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// hostPIDs reads the host pids farm.json lists, by name.
func hostPIDs(t *testing.T, dir string) map[string]int {
	t.Helper()
	in, err := lab.ReadInfo(dir)
	if err != nil {
		t.Fatal(err)
	}
	pids := map[string]int{}
	for _, b := range in.Backends {
		pids[b.Name] = b.PID
	}
	return pids
}

// waitHostPID waits, bounded, until farm.json lists pid for host name.
func waitHostPID(t *testing.T, dir, name string, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := hostPIDs(t, dir)[name]
		if got == pid {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("farm.json lists %s with pid %d; want %d", name, got, pid)
		}
		time.Sleep(5 * time.Millisecond) // polling a file the farm rewrites, bounded by the deadline
	}
}

// A host that dies leaves farm.json, which other krbfarm commands read to
// signal hosts: it must stop naming the dead pid, which the system may
// give to any other process, and name the new one after a restart.
func TestFarmJSONFollowsHostProcesses(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	h := farm.Host("server1")
	old := h.PID()
	if got := hostPIDs(t, farm.Dir)["server1"]; got != old || old == 0 {
		t.Fatalf("farm.json lists server1 with pid %d; want %d", got, old)
	}
	h.Kill()
	waitHostPID(t, farm.Dir, "server1", 0)
	if in, err := lab.ReadInfo(farm.Dir); err != nil || slices.Contains(in.Processes, old) {
		t.Errorf("farm.json processes %v (%v) still list the dead pid %d", in.Processes, err, old)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	if h.PID() == 0 || h.PID() == old {
		t.Fatalf("restarted server1 has pid %d", h.PID())
	}
	waitHostPID(t, farm.Dir, "server1", h.PID())
	// Close removes farm.json, and no host stopping rewrites it.
	if err := farm.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(farm.Dir + "/farm.json"); err == nil {
		t.Errorf("farm.json left after Close")
	}
}

// Even a stale farm.json cannot make an admin command signal another
// process: the host's reload checks the pid still runs that host.
func TestReloadRefusesPIDOfAnotherProcess(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	stateDir := farm.Dir
	other := startSleeper(t)
	info, err := lab.ReadInfo(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	info.Backends[0].PID = other.Process.Pid
	rewriteInfo(t, stateDir, info)
	a, err := lab.OpenAdmin(stateDir, "")
	if err != nil {
		t.Fatal(err)
	}
	err = a.SetClockOffset(context.Background(), info.Backends[0].Name, 0)
	if err == nil || !containsAll(err.Error(), "not the host", "farm.json is stale") {
		t.Errorf("reload through a pid another program holds: %v; want a refusal naming the stale farm.json", err)
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the other process got a signal meant for a host: %v", err)
	}
}

// startSleeper starts a process that is not a host, ended with the test.
func startSleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}

// rewriteInfo writes in as dir's farm.json, as a stale or edited one.
func rewriteInfo(t *testing.T, dir string, in lab.Info) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "farm.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
