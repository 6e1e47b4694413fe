package lb

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"go/build"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pebbleBin finds Pebble, installed with
// `go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.8.0`.
func pebbleBin(t *testing.T) string {
	if p, err := exec.LookPath("pebble"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOPATH, "bin", "pebble")
	if _, err := os.Stat(p); err != nil {
		t.Skip("pebble not installed: go install github.com/letsencrypt/pebble/v2/cmd/pebble@v2.8.0")
	}
	return p
}

// freePort returns a loopback port free a moment ago: Pebble takes its
// addresses from a file, not a listener we could hand it.
func freePort(t *testing.T) int {
	ln := listen(t)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// startPebble runs Pebble on loopback, serving HTTPS with a lab
// certificate, every challenge valid, and returns its directory URL and
// management address.
func startPebble(t *testing.T, lc labCerts) (dir, mgmt string) {
	bin := pebbleBin(t)
	addr, mgmt := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	conf := fmt.Sprintf(`{"pebble": {"listenAddress": %q, "managementListenAddress": %q,
		"certificate": %q, "privateKey": %q, "httpPort": 5002, "tlsPort": 5001,
		"retryAfter": {"authz": 1, "order": 1}}}`, addr, mgmt, lc.certFile, lc.keyFile)
	file := filepath.Join(t.TempDir(), "pebble.json")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-config", file)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_ALWAYS_VALID=1", "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	dir = "https://" + addr + "/dir"
	hc := labClient(lc)
	for deadline := time.Now().Add(waitLimit); ; {
		resp, err := hc.Get(dir)
		if err == nil {
			resp.Body.Close()
			return dir, mgmt
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble not ready at %s: %v", dir, err)
		}
		time.Sleep(20 * time.Millisecond) // readiness poll of a process we cannot get a signal from
	}
}

func labClient(lc labCerts) *http.Client {
	return &http.Client{Timeout: waitLimit, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: lc.ca.CertPool()}}}
}

// TestACMEPebble: a client asking for an ACME name gets, in its first
// handshake, a certificate issued by Pebble through autocert, which
// verifies against Pebble's root; other names keep the file certificate.
func TestACMEPebble(t *testing.T) {
	lc := newLabCerts(t)
	dir, mgmt := startPebble(t, lc)
	const host = "acme.krbfarm.localhost"
	cfg := Config{Backends: backends(nameBackend(t, "a")), CertFile: lc.certFile, KeyFile: lc.keyFile,
		ACME:   ACME{Directory: dir, Hosts: []string{host}, DirectoryCA: lc.caFile, CacheDir: t.TempDir()},
		Health: Health{Interval: time.Hour}, HandshakeTimeout: waitLimit}
	_, front := startLB(t, cfg, nil, nil)

	resp, err := labClient(lc).Get("https://" + mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatalf("pebble root: %q", rootPEM)
	}
	c, err := tls.Dial("tcp", front, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		t.Fatalf("handshake for the ACME name: %v", err)
	}
	defer c.Close()
	if got := exchange(t, c, "x"); got != "a:x" {
		t.Errorf("through the ACME certificate: got %q; want a:x", got)
	}
	leaf := c.ConnectionState().PeerCertificates[0]
	if !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("issuer %q; want Pebble's", leaf.Issuer.CommonName)
	}
	other, err := tls.Dial("tcp", front, lc.client)
	if err != nil {
		t.Fatalf("handshake for the file certificate's name: %v", err)
	}
	other.Close()
}
