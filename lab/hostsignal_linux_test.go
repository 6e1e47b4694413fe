package lab

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// signalHost signals a process whose command line names the host's
// config, and refuses one that does not.
func TestSignalHostChecksCommandLine(t *testing.T) {
	const config = "/state/hosts/server1/backend.yaml"
	host := fakeHost(t, config)
	other := fakeHost(t, config+".other")

	err := signalHost(other.Process.Pid, config, syscall.SIGHUP)
	if err == nil || !strings.Contains(err.Error(), "farm.json is stale") {
		t.Errorf("signalHost to a process of another config: %v; want a refusal", err)
	}
	if err := signalHost(host.Process.Pid, config, syscall.SIGHUP); err != nil {
		t.Fatalf("signalHost to the host: %v", err)
	}
	err = host.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Errorf("host ended with %v; want exit 7, from its HUP trap", err)
	}
	if err := signalHost(host.Process.Pid, config, syscall.SIGHUP); err == nil {
		t.Errorf("signalHost to a pid that has exited: no error")
	}
	if err := other.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("the other process was signalled: %v", err)
	}
}

// fakeHost is a process whose command line holds "--config config", as a
// host's does (bash -c SCRIPT NAME ARGS), and which exits 7 on SIGHUP. It
// runs in its own process group, ended with the test.
func fakeHost(t *testing.T, config string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("bash", "-c", `trap 'kill $!; exit 7' HUP; echo ready; sleep 60 & wait`, "backend", "--config", config)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	t.Cleanup(func() {
		syscall.Kill(-pgid, syscall.SIGKILL)
		cmd.Wait()
	})
	// Its trap is set once it says so.
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != "ready\n" {
			t.Fatalf("fake host said %q; want ready", line)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fake host not ready after 10s")
	}
	return cmd
}
