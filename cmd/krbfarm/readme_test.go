package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A README block, with the HTML comment on the line before its fence:
// `<!-- not run: REASON -->` (a shell block that cannot run here) or
// `<!-- sample: COMMAND -->` (a sample output that COMMAND produces).
type readmeBlock struct {
	lang, body, marker string
	line               int
}

var markerRE = regexp.MustCompile(`^<!-- (not run|sample): (.*) -->$`)

func readmeBlocks(t *testing.T) []readmeBlock {
	t.Helper()
	f, err := os.Open("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks []readmeBlock
		cur    *readmeBlock
		prev   string
	)
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &readmeBlock{lang: strings.TrimPrefix(l, "```"), line: n, marker: prev}
		case cur != nil && l == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.body += l + "\n"
		}
		if strings.TrimSpace(l) != "" {
			prev = strings.TrimSpace(l)
		}
	}
	return blocks
}

// TestReadmeShellBlocks runs every ```sh block of README.md as written,
// in bash -e with a fresh HOME and XDG_STATE_HOME, krbfarm (this build) on
// PATH, and `krbfarm up` given --listen 127.0.0.1:0 so no fixed port is
// taken. Blocks marked `<!-- not run: REASON -->` are skipped, by name.
func TestReadmeShellBlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several farms")
	}
	bin := buildKrbfarm(t)
	for _, b := range readmeBlocks(t) {
		if b.lang != "sh" {
			continue
		}
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			if m := markerRE.FindStringSubmatch(b.marker); m != nil && m[1] == "not run" {
				t.Skip("not run: " + m[2])
			}
			out, err := runReadmeShell(t, bin, b.body)
			if err != nil {
				t.Fatalf("README.md line %d: %v\n--- block\n%s--- output\n%s", b.line, err, b.body, out)
			}
			checkShown(t, b, out)
		})
	}
}

// checkShown compares what a block's comments say it prints (`# 400`)
// with what it printed.
func checkShown(t *testing.T, b readmeBlock, out string) {
	for _, want := range regexp.MustCompile(`(?m)#\s+(\d{3})\s*$`).FindAllStringSubmatch(b.body, -1) {
		if !regexp.MustCompile(`(?m)^` + want[1] + `$`).MatchString(out) {
			t.Errorf("README.md line %d: the block says it prints %s; it printed:\n%s", b.line, want[1], out)
		}
	}
}

// runReadmeShell runs script in its own process group, which it then
// stops (SIGINT, then SIGKILL after 20 s): `krbfarm up &` in a block
// is stopped as Ctrl-C stops it.
func runReadmeShell(t *testing.T, bin, script string) (string, error) {
	dir := t.TempDir()
	pathDir := filepath.Join(dir, "bin")
	os.Mkdir(pathDir, 0o700)
	wrapper := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = up ]; then shift; exec %q up --listen 127.0.0.1:0 \"$@\"; fi\nexec %q \"$@\"\n", bin, bin)
	if err := os.WriteFile(filepath.Join(pathDir, "krbfarm"), []byte(wrapper), 0o700); err != nil {
		t.Fatal(err)
	}
	outPath := filepath.Join(dir, "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command("bash", "-e", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_STATE_HOME="+filepath.Join(dir, "state"),
		"PATH="+pathDir+":"+os.Getenv("PATH")+":/usr/sbin:/sbin")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		err = errors.New("still running after 3 minutes")
	}
	stopGroup(cmd.Process.Pid)
	b, _ := os.ReadFile(outPath)
	return string(b), err
}

// stopGroup stops what a block left running in process group pgid.
func stopGroup(pgid int) {
	if syscall.Kill(-pgid, syscall.SIGINT) != nil {
		return // nothing left
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if syscall.Kill(-pgid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond) // polling for the group to end, bounded
	}
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// normalise blanks what changes from run to run: ports, durations, pids,
// temporary paths.
func normalise(s string) string {
	for _, r := range []struct{ re, to string }{
		{`(localhost|127\.0\.0\.1):\d+`, "$1:PORT"},
		{`\d+(\.\d+)?(ms|µs|s)\b`, "DUR"},
		{`pid \d+`, "pid N"},
		{`header is \d+ bytes`, "header is N bytes"},
		{`/tmp/[^ /]+`, "/tmp/X"},
		{`[ \t]+\n`, "\n"},
	} {
		s = regexp.MustCompile(r.re).ReplaceAllString(s, r.to)
	}
	return s
}

// TestReadmeSamples runs the command named by each `<!-- sample: CMD -->`
// and checks that every line the README shows is a line it printed
// (after normalise; a "..." line stands for any lines), and that it
// printed no line the README's sample lacks, unless the sample has "...".
func TestReadmeSamples(t *testing.T) {
	if testing.Short() {
		t.Skip("starts farms")
	}
	bin := buildKrbfarm(t)
	n := 0
	for _, b := range readmeBlocks(t) {
		m := markerRE.FindStringSubmatch(b.marker)
		if m == nil || m[1] != "sample" {
			continue
		}
		n++
		t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
			args := strings.Fields(m[2])
			if args[0] != "krbfarm" {
				t.Fatalf("sample command %q: want krbfarm ...", m[2])
			}
			out, _ := exec.Command(bin, args[1:]...).CombinedOutput() // the sample shows the exit status it expects
			compareSample(t, b, normalise(string(out)))
		})
	}
	if n < 2 {
		t.Errorf("README.md has %d sample blocks; want the demo's and the scenario's at least", n)
	}
}

func compareSample(t *testing.T, b readmeBlock, got string) {
	gotLines := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		gotLines[l] = true
	}
	wantLines := map[string]bool{}
	elided := false
	for _, l := range strings.Split(normalise(b.body), "\n") {
		if strings.TrimSpace(l) == "..." {
			elided = true
			continue
		}
		wantLines[l] = true
		if !gotLines[l] {
			t.Errorf("README.md sample at line %d shows a line the command does not print:\n  %q", b.line, l)
		}
	}
	if elided {
		return
	}
	for _, l := range strings.Split(got, "\n") {
		if !wantLines[l] {
			t.Errorf("README.md sample at line %d lacks a line the command prints:\n  %q", b.line, l)
		}
	}
	if t.Failed() {
		t.Logf("the command printed (normalised):\n%s", got)
	}
}
