package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestPinnedCPUsSwapEveryRound(t *testing.T) {
	for round, want := range [][2]string{{"1", "0"}, {"0", "1"}, {"1", "0"}, {"0", "1"}} {
		lb, load := pinnedCPUs(round)
		if lb != want[0] || load != want[1] {
			t.Errorf("round %d: balancers on CPU %s, load on CPU %s; want %s and %s", round, lb, load, want[0], want[1])
		}
	}
}

// TestPinRoundMovesProcessTree starts a shell with a child on CPU 0 as the
// "origin" and checks that the second round moves both to CPU 1.
func TestPinRoundMovesProcessTree(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs")
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("needs taskset (util-linux)")
	}
	cmd := exec.Command("taskset", "-c", "0", "sh", "-c", "sleep 60 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range children(cmd.Process.Pid) {
			if p, err := os.FindProcess(c); err == nil {
				_ = p.Kill()
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pid := cmd.Process.Pid
	var kids []int
	for deadline := time.Now().Add(5 * time.Second); len(kids) == 0 && time.Now().Before(deadline); {
		kids = children(pid)
		if len(kids) == 0 {
			time.Sleep(10 * time.Millisecond) // polling for the child to appear
		}
	}
	if len(kids) == 0 {
		t.Fatal("the shell started no child in 5s")
	}
	e := &env{layout: layoutPinned, originPID: pid}
	e.lbCPU, e.loadCPU = pinnedCPUs(0)
	if err := e.pinRound(1, nil); err != nil {
		t.Fatal(err)
	}
	if e.lbCPU != "0" || e.loadCPU != "1" {
		t.Errorf("after round 2's pinning: balancers on %q, load on %q; want 0 and 1", e.lbCPU, e.loadCPU)
	}
	for _, p := range append([]int{pid}, kids...) {
		if got := allowedCPUs(t, p); got != "1" {
			t.Errorf("pid %d may run on CPUs %q; want 1", p, got)
		}
	}
	// Unpinned: nothing moves.
	u := &env{layout: layoutUnpinned, originPID: pid}
	if err := u.pinRound(0, nil); err != nil || u.lbCPU != "" {
		t.Errorf("unpinned pinRound: err %v, lbCPU %q; want neither", err, u.lbCPU)
	}
}

func allowedCPUs(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("pid %d: no Cpus_allowed_list", pid)
	return ""
}
