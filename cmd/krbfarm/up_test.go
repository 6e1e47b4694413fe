package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
)

// upLines runs `krbfarm up` with stdout and stderr read line by line onto
// two channels, and waits for its "Press Ctrl-C" line.
func upLines(t *testing.T, bin string, args ...string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"up"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	outc, errc := make(chan string, 256), make(chan string, 256)
	go scanLines(bufio.NewScanner(stdout), outc)
	go scanLines(bufio.NewScanner(stderr), errc)
	waitLine(t, outc, "Press Ctrl-C", 30*time.Second)
	return cmd, errc
}

func scanLines(sc *bufio.Scanner, c chan<- string) {
	defer close(c)
	for sc.Scan() {
		c <- sc.Text()
	}
}

// waitLine reads lines until one contains want, and returns them all.
func waitLine(t *testing.T, c <-chan string, want string, d time.Duration) string {
	t.Helper()
	var all strings.Builder
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case l, ok := <-c:
			if !ok {
				t.Fatalf("output ended without %q:\n%s", want, all.String())
			}
			all.WriteString(l + "\n")
			if strings.Contains(l, want) {
				return all.String()
			}
		case <-deadline.C:
			t.Fatalf("no %q within %s:\n%s", want, d, all.String())
		}
	}
}

// TestUpReportsKilledHost is issue 8 item 6: up said nothing when a host
// process died.
func TestUpReportsKilledHost(t *testing.T) {
	bin := buildKrbfarm(t)
	state := filepath.Join(t.TempDir(), "state")
	cmd, errc := upLines(t, bin, "--state", state, "--listen", "127.0.0.1:0")
	in, err := lab.ReadInfo(state)
	if err != nil {
		t.Fatal(err)
	}
	victim := in.Backends[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	report := waitLine(t, errc, "keeps running", 20*time.Second)
	for _, want := range []string{"backend " + victim.Name, "pid " + strconv.Itoa(victim.PID), "signal: killed",
		victim.Log, `"backend":"` + victim.Name + `"`} {
		if !strings.Contains(report, want) {
			t.Errorf("report on stderr lacks %q:\n%s", want, report)
		}
	}
	// The farm kept running: it still stops cleanly on SIGINT.
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("up after SIGINT: %v", err)
	}
}

// TestStateDirOfAnotherUserRefused is issue 8 item 2 end to end: up and the
// commands that read a farm's state refuse a dir that another user owns.
func TestStateDirOfAnotherUserRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a folder to another user")
	}
	bin := buildKrbfarm(t)
	dir := filepath.Join(t.TempDir(), "planted")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"up", "--state", dir, "--listen", "127.0.0.1:0"},
		{"events", "--state", dir},
		{"doctor", "--state", dir},
		{"setspn", "--state", dir, "-X"},
	} {
		out, err := exec.Command(bin, args...).CombinedOutput()
		if err == nil {
			t.Errorf("krbfarm %s: succeeded; want a refusal", strings.Join(args, " "))
		}
		for _, want := range []string{dir, "owned by another user", "uid 65534", "mktemp -d"} {
			if !strings.Contains(string(out), want) {
				t.Errorf("krbfarm %s: output lacks %q:\n%s", args[0], want, out)
			}
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%s holds %d entries after the refusals; want none written", dir, len(ents))
	}
}
