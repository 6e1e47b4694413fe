package main

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the bench ran: CPUs, kernel, tool versions.
func machine(krbfarm string) map[string]string {
	m := map[string]string{
		"nproc":   strconv.Itoa(runtime.NumCPU()),
		"cpu":     cpuModel(),
		"kernel":  firstLine(command("uname", "-r")),
		"go":      runtime.Version(),
		"haproxy": firstLine(command("haproxy", "-v")),
		"nginx":   firstLine(command("nginx", "-v")),
		"wrk":     firstLine(command("wrk", "-v")),
		"openssl": firstLine(command("openssl", "version")),
		"krbfarm": sourceVersion() + " (" + krbfarm + ")",
	}
	return m
}

// sourceVersion is the commit the measured code comes from, "-dirty" when
// a tracked file other than the bench's own results differs from it: a
// second run written beside the first (or a results file just rewritten)
// does not make the code it measures dirty.
func sourceVersion() string {
	rev := firstLine(command("git", "rev-parse", "--short", "HEAD"))
	if rev == "" || strings.Contains(rev, " ") {
		return "unknown"
	}
	status := command("git", "status", "--porcelain", "--untracked-files=no", "--",
		".", ":(exclude)bench/*.json")
	if status != "" {
		rev += "-dirty"
	}
	return rev
}

// command runs a short command and returns its combined output, whatever
// its exit status (wrk -v exits 1).
func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// tlsInfo is what OpenSSL (the library wrk uses) negotiates with addr:
// protocol, cipher suite and key exchange group, from s_client -brief.
func tlsInfo(addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openssl", "s_client", "-brief", "-connect", addr)
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	var parts []string
	for _, line := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(line, ":")
		switch k = strings.TrimSpace(k); {
		case !ok:
		case k == "Protocol version", k == "Ciphersuite", k == "Peer signature type", k == "Server Temp Key", k == "Negotiated TLS1.3 group":
			parts = append(parts, strings.TrimSpace(v))
		}
	}
	if len(parts) == 0 {
		return "unknown (openssl s_client gave nothing)"
	}
	return strings.Join(parts, ", ")
}
