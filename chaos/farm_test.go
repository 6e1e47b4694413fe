//go:build linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// farmInfo is what the tests read of a running farm's farm.json (its
// fields are lab.Info's; this package does not import lab).
type farmInfo struct {
	Realm    string `json:"realm"`
	FQDN     string `json:"fqdn"`
	SPN      string `json:"spn"`
	URL      string `json:"url"`
	Krb5Conf string `json:"krb5_conf"`
	CACert   string `json:"ca_cert"`
	LB       struct {
		Addr string `json:"addr"`
	} `json:"lb"`
	Backends []struct {
		Name   string `json:"name"`
		Addr   string `json:"addr"`
		Keytab string `json:"keytab"`
		PID    int    `json:"pid"`
	} `json:"backends"`
	Users []struct {
		Principal string `json:"principal"`
		Password  string `json:"password"`
	} `json:"users"`
	StateDir string `json:"state_dir"`
}

// farm is a running `krbfarm up` with a ccache for its first user.
type farm struct {
	farmInfo
	up     *proc
	ccache string
}

// cert and key are the farm's certificate for its FQDN, which the
// standalone balancers serve too.
func (f *farm) cert() string { return filepath.Join(f.StateDir, "tls", f.FQDN+".pem") }
func (f *farm) key() string  { return filepath.Join(f.StateDir, "tls", f.FQDN+"-key.pem") }

// krbPath is PATH with the directories of krb5kdc and kadmin.local.
func krbPath() string { return os.Getenv("PATH") + ":/usr/sbin:/sbin" }

// skipWithoutKrb5 skips t when the MIT programs are missing.
func skipWithoutKrb5(t testing.TB) {
	for _, p := range []string{"krb5kdc", "kadmin.local", "kdb5_util", "kinit"} {
		found := false
		for _, d := range filepath.SplitList(krbPath()) {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
			}
		}
		if !found {
			t.Skipf("skipping: %s not found: apt-get install krb5-kdc krb5-admin-server krb5-user", p)
		}
	}
}

// startFarm runs `krbfarm up` on free ports, waits for its farm.json
// (written once the farm answers through its balancer), and gets a ticket
// for its first user with kinit.
func startFarm(t testing.TB, bin string) *farm {
	t.Helper()
	skipWithoutKrb5(t)
	state := t.TempDir()
	cmd := exec.Command(bin, "up", "--state", state, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "PATH="+krbPath())
	f := &farm{up: startProc(t, t.TempDir(), "up", cmd)}
	path := filepath.Join(state, "farm.json")
	ready := poll(60*time.Second, func() bool {
		b, err := os.ReadFile(path)
		return (err == nil && json.Unmarshal(b, &f.farmInfo) == nil) || f.up.exited()
	})
	if !ready || f.up.exited() {
		t.Fatalf("krbfarm up: no farm.json within 60 s (exited: %v); output:\n%s", f.up.exited(), f.up.tail())
	}
	f.ccache = filepath.Join(t.TempDir(), "ccache")
	kinit(t, f.Krb5Conf, f.ccache, f.Users[0].Principal, f.Users[0].Password)
	return f
}

// kinit gets a TGT for principal into ccache with the real kinit.
func kinit(t testing.TB, krb5conf, ccache, principal, password string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kinit", principal)
	cmd.Env = append(os.Environ(), "KRB5_CONFIG="+krb5conf, "KRB5CCNAME=FILE:"+ccache)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit %s: %v: %s", principal, err, out)
	}
}

// host is a standalone `krbfarm backend` with the farm's keytab.
type host struct {
	*proc
	name, addr, config string
}

// startHost runs a host on a listener opened here and handed over as fd 3
// (as the lab does: the port is known before it runs). It runs as a lab
// child (KRBFARM_CHILD): it reloads its backend.yaml and keytab on SIGHUP,
// acknowledging in "reloaded", and ends when its standard input closes.
func startHost(t testing.TB, bin string, f *farm, dir, name string, bodyTimeout time.Duration) *host {
	t.Helper()
	hdir := filepath.Join(dir, name)
	if err := os.MkdirAll(hdir, 0o700); err != nil {
		t.Fatal(err)
	}
	h := &host{name: name, config: filepath.Join(hdir, "backend.yaml")}
	yaml := fmt.Sprintf("name: %s\nkeytab: %s\nrealm: %s\nbody_timeout: %s\n", name, f.Backends[0].Keytab, f.Realm, bodyTimeout)
	if err := os.WriteFile(h.config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	lf, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, "backend", "--config", h.config, "--listen-fd", "3")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.Env = append(os.Environ(), "KRBFARM_CHILD=backend", "KRBFARM_BACKEND_CONFIG="+h.config)
	h.proc = startProc(t, dir, name, cmd)
	if !poll(20*time.Second, func() bool { return healthy("http://"+h.addr+"/healthz") || h.exited() }) || h.exited() {
		t.Fatalf("host %s not healthy within 20 s; log:\n%s", name, h.tail())
	}
	return h
}

// healthy reports whether url answers 200 within a second.
func healthy(url string) bool {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// reload sends the host SIGHUP and waits, up to 20 s, for its
// acknowledgement of generation gen.
func (h *host) reload(t testing.TB, gen int) {
	t.Helper()
	dir := filepath.Dir(h.config)
	want := fmt.Sprint(gen)
	if err := os.WriteFile(filepath.Join(dir, "reload"), []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.signal(syscall.SIGHUP); err != nil {
		t.Fatalf("SIGHUP %s: %v", h.name, err)
	}
	if !poll(20*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "reloaded"))
		return string(b) == want || h.exited()
	}) || h.exited() {
		t.Fatalf("host %s did not acknowledge reload %d; log:\n%s", h.name, gen, h.tail())
	}
}
