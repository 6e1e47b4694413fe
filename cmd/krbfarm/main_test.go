package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildKrbfarm builds the real binary once per test run.
func buildKrbfarm(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("krb5kdc"); err != nil {
		if _, err := os.Stat("/usr/sbin/krb5kdc"); err != nil {
			t.Skip("krb5kdc not installed: run `make deps` (Debian packages krb5-kdc krb5-admin-server krb5-user)")
		}
	}
	bin := filepath.Join(t.TempDir(), "krbfarm")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startUp runs `krbfarm up` and waits for its "Press Ctrl-C" line.
func startUp(t *testing.T, bin string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"up"}, args...)...)
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	var all strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Press Ctrl-C") {
				lines <- all.String()
				io.Copy(io.Discard, stdout)
				return
			}
		}
		lines <- all.String()
	}()
	select {
	case out := <-lines:
		if !strings.Contains(out, "Press Ctrl-C") {
			t.Fatalf("krbfarm up did not become ready:\n%s", out)
		}
		return cmd, out
	case <-time.After(30 * time.Second):
		t.Fatal("krbfarm up: no ready line after 30s")
	}
	return nil, ""
}

func waitExit(t *testing.T, cmd *exec.Cmd) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("krbfarm did not exit within 20s")
		return nil
	}
}

func TestUpServesAndSIGINTStopsEverything(t *testing.T) {
	bin := buildKrbfarm(t)
	state := t.TempDir()
	cmd, out := startUp(t, bin, "--state", state, "--listen", "127.0.0.1:0")
	for _, want := range []string{"kinit", "curl --negotiate -u : --cacert", "export KRB5_CONFIG=", "alice@KRBFARM.LOCALHOST"} {
		if !strings.Contains(out, want) {
			t.Errorf("up output lacks %q:\n%s", want, out)
		}
	}
	in := readFarmDesc(t, state)
	if len(in.Processes) != 3 || len(in.Backends) != 2 || !strings.HasPrefix(in.URL, "https://sso.krbfarm.localhost:") {
		t.Fatalf("farm.json: %+v", in)
	}
	// A second farm on the same state dir is refused with a clear reason.
	second, err := exec.Command(bin, "up", "--state", state, "--listen", "127.0.0.1:0").CombinedOutput()
	if err == nil || !strings.Contains(string(second), "in use by a running farm") {
		t.Errorf("second up on %s: err %v, output %s; want a refusal", state, err, second)
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := waitExit(t, cmd); err != nil {
		t.Errorf("up after SIGINT: %v", err)
	}
	for _, pid := range in.Processes {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("pid %d still running after SIGINT", pid)
		}
	}
}

func TestUpPortInUse(t *testing.T) {
	bin := buildKrbfarm(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	out, err := exec.Command(bin, "up", "--state", t.TempDir(), "--listen", busy.Addr().String()).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("up on a busy port: err %v; want a non-zero exit", err)
	}
	for _, want := range []string{busy.Addr().String(), "pick another with --listen, or 127.0.0.1:0 for a free port"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q does not name %q", out, want)
		}
	}
}

func TestDemo(t *testing.T) {
	bin := buildKrbfarm(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "demo", "--requests", "4").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	for _, want := range []string{"server1 served 2", "server2 served 2", "OK: single sign-on works"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}

func TestBackendUnreadableKeytab(t *testing.T) {
	bin := buildKrbfarm(t)
	missing := filepath.Join(t.TempDir(), "nope.keytab")
	out, err := exec.Command(bin, "backend", "--name", "server1", "--keytab", missing, "--spn", "HTTP/sso.krbfarm.localhost").CombinedOutput()
	if err == nil {
		t.Fatalf("backend with a missing keytab started; output %s", out)
	}
	if !strings.Contains(string(out), missing) {
		t.Errorf("error %q does not name the keytab path", out)
	}
}
