package main

import (
	"bufio"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
)

// TestUpServesDashboard is issue 11: up prints a dashboard URL, records
// it in farm.json, and `krbfarm dashboard --state` serves one too.
func TestUpServesDashboard(t *testing.T) {
	bin := buildKrbfarm(t)
	state := filepath.Join(t.TempDir(), "state")
	upLines(t, bin, "--state", state, "--listen", "127.0.0.1:0")
	in, err := lab.ReadInfo(state)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(in.Dashboard, "http://127.0.0.1:") || in.LB.Admin == "" {
		t.Fatalf("farm.json dashboard %q, lb admin %q", in.Dashboard, in.LB.Admin)
	}
	pageHasHosts(t, in.Dashboard)

	cmd := exec.Command(bin, "dashboard", "--state", state)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string, 16)
	go scanLines(bufio.NewScanner(stdout), lines)
	line := waitLine(t, lines, "Dashboard of", 20*time.Second)
	_, rest, _ := strings.Cut(line, ": http://")
	url, _, _ := strings.Cut(rest, " ")
	pageHasHosts(t, "http://"+url)
}

func pageHasHosts(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), ">server1<") || !strings.Contains(string(b), `id="topology"`) {
		t.Fatalf("GET %s = %d, want the page with server1's topology:\n%.400s", url, resp.StatusCode, b)
	}
}
