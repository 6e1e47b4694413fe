package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// wrkScript makes wrk print its summary as one JSON line, so nothing
// depends on the layout of its text report.
const wrkScript = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%.0f,"bytes":%.0f,"duration_us":%.0f,"p50_us":%.0f,"p99_us":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f}}\n',
    summary.requests, summary.bytes, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
`

// load is one wrk run's shape.
type load struct {
	path    string        // URL path on the origin
	conns   int           // -c
	threads int           // -t
	close   bool          // Connection: close: a new connection per request
	timeout time.Duration // per request
}

// wrkResult is what wrkScript prints.
type wrkResult struct {
	Requests   float64 `json:"requests"`
	Bytes      float64 `json:"bytes"`
	DurationUS float64 `json:"duration_us"`
	P50US      float64 `json:"p50_us"`
	P99US      float64 `json:"p99_us"`
	Errors     struct {
		Connect, Read, Write, Status, Timeout float64
	} `json:"errors"`
	cpu  time.Duration // wrk's own user + system CPU, from its rusage
	busy busyShares    // set by measureWrk
}

func (r wrkResult) seconds() float64  { return r.DurationUS / 1e6 }
func (r wrkResult) rate() float64     { return r.Requests / r.seconds() }
func (r wrkResult) gbPerSec() float64 { return r.Bytes / r.seconds() / 1e9 }

// errorNote is "" when the run had no errors, else a short summary.
func (r wrkResult) errorNote() string {
	e := r.Errors
	if e.Connect+e.Read+e.Write+e.Status+e.Timeout == 0 {
		return ""
	}
	return fmt.Sprintf("wrk errors: connect %.0f, read %.0f, write %.0f, status %.0f, timeout %.0f (of %.0f requests)",
		e.Connect, e.Read, e.Write, e.Status, e.Timeout, r.Requests)
}

// runWrk runs wrk against base+l.path for d and returns its summary.
func (e *env) runWrk(ctx context.Context, base string, l load, d time.Duration) (wrkResult, error) {
	script := filepath.Join(e.dir, "summary.lua")
	if err := os.WriteFile(script, []byte(wrkScript), 0o644); err != nil {
		return wrkResult{}, err
	}
	secs := strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))
	argv := []string{"wrk", "-t", strconv.Itoa(l.threads), "-c", strconv.Itoa(l.conns), "-d", secs + "s",
		"--latency", "--timeout", strconv.Itoa(int(l.timeout/time.Second)) + "s", "-s", script}
	if l.close {
		argv = append(argv, "-H", "Connection: close")
	}
	argv = append(argv, base+l.path)
	if e.loadCPU != "" {
		argv = append([]string{"taskset", "-c", e.loadCPU}, argv...)
	}
	ctx, cancel := context.WithTimeout(ctx, d+l.timeout+30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return wrkResult{}, fmt.Errorf("%s: %w: %s", quoteArgs(argv), err, lastLines(out.String(), 3))
	}
	r, err := parseWrk(out.String())
	r.cpu = rusageCPU(cmd)
	return r, err
}

// parseWrk finds the WRKJSON line in wrk's output.
func parseWrk(out string) (wrkResult, error) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "WRKJSON "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(rest), &r); err != nil {
				return r, fmt.Errorf("wrk summary: %w", err)
			}
			if r.DurationUS <= 0 || r.Requests <= 0 {
				return r, fmt.Errorf("wrk completed no request: %s", lastLines(out, 3))
			}
			return r, nil
		}
	}
	return wrkResult{}, fmt.Errorf("no summary in wrk output: %s", lastLines(out, 3))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " | ")
}
