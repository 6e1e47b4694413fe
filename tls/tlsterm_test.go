package tlsterm

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const ssoName = "sso.krbfarm.localhost"

type labFiles struct {
	caCert, caKey, cert, key string
}

func newLab(t *testing.T) (*CA, labFiles) {
	t.Helper()
	dir := t.TempDir()
	f := labFiles{
		caCert: filepath.Join(dir, "ca.pem"),
		caKey:  filepath.Join(dir, "ca-key.pem"),
		cert:   filepath.Join(dir, "sso.pem"),
		key:    filepath.Join(dir, "sso-key.pem"),
	}
	ca, err := NewCA(f.caCert, f.caKey)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	if err := ca.Issue([]string{ssoName, "127.0.0.1"}, f.cert, f.key); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return ca, f
}

// serveTLS runs a TLS server on 127.0.0.1:0 that answers each connection
// with "hello" and closes it.
func serveTLS(t *testing.T, conf *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", conf)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.WriteString(c, "hello")
			}()
		}
	}()
	return ln.Addr().String()
}

func TestHandshake(t *testing.T) {
	ca, f := newLab(t)
	cert, err := LoadKeyPair(f.cert, f.key)
	if err != nil {
		t.Fatalf("LoadKeyPair: %v", err)
	}
	addr := serveTLS(t, ServerConfig(cert))
	tests := []struct {
		name       string
		serverName string
		wantErr    bool
	}{
		{"dns name", ssoName, false},
		{"ip address", "127.0.0.1", false},
		{"other name", "other.krbfarm.localhost", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := &tls.Config{RootCAs: ca.CertPool(), ServerName: tt.serverName}
			c, err := tls.Dial("tcp", addr, conf)
			if tt.wantErr {
				var hostErr x509.HostnameError
				if !errors.As(err, &hostErr) {
					t.Fatalf("dial as %q: got %v; want a hostname error", tt.serverName, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial as %q: %v", tt.serverName, err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != "hello" {
				t.Fatalf("read: got %q, %v; want %q", got, err, "hello")
			}
			state := c.ConnectionState()
			if state.NegotiatedProtocol != "" && state.NegotiatedProtocol != "http/1.1" {
				t.Errorf("ALPN: got %q", state.NegotiatedProtocol)
			}
		})
	}
}

func TestServerConfig(t *testing.T) {
	conf := ServerConfig()
	if conf.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion: got %x; want TLS 1.2", conf.MinVersion)
	}
	if len(conf.NextProtos) != 1 || conf.NextProtos[0] != "http/1.1" {
		t.Errorf("NextProtos: got %q", conf.NextProtos)
	}
	if conf.SessionTicketsDisabled {
		t.Error("session tickets disabled")
	}
	if _, err := conf.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("GetCertificate with no certs: got nil error")
	}
}

func TestReloadCA(t *testing.T) {
	ca, f := newLab(t)
	again, err := NewCA(f.caCert, f.caKey)
	if err != nil {
		t.Fatalf("NewCA on existing files: %v", err)
	}
	if !again.Certificate().Equal(ca.Certificate()) {
		t.Fatal("reloaded CA has a different certificate")
	}
	// The reloaded CA's key must still sign certificates the pool accepts.
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	if err := again.Issue([]string{ssoName}, cert, key); err != nil {
		t.Fatalf("Issue: %v", err)
	}
	leaf, err := LoadKeyPair(cert, key)
	if err != nil {
		t.Fatalf("LoadKeyPair: %v", err)
	}
	_, err = leaf.Leaf.Verify(x509.VerifyOptions{Roots: ca.CertPool(), DNSName: ssoName})
	if err != nil {
		t.Fatalf("verify leaf from reloaded CA: %v", err)
	}
}

func TestFileModes(t *testing.T) {
	_, f := newLab(t)
	want := map[string]fs.FileMode{f.caKey: 0o600, f.key: 0o600, f.caCert: 0o600, f.cert: 0o600}
	for file, mode := range want {
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != mode {
			t.Errorf("%s: mode %o; want %o", filepath.Base(file), got, mode)
		}
	}
}

func TestNewCAHalfPresent(t *testing.T) {
	_, f := newLab(t)
	if err := os.Remove(f.caKey); err != nil {
		t.Fatal(err)
	}
	_, err := NewCA(f.caCert, f.caKey)
	if err == nil || !strings.Contains(err.Error(), f.caKey) {
		t.Fatalf("NewCA without key: got %v; want an error naming %s", err, f.caKey)
	}
}

func TestLoadKeyPairErrors(t *testing.T) {
	_, f := newLab(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	tests := []struct {
		name, cert, key, want string
	}{
		{"missing cert", missing, f.key, missing},
		{"missing key", f.cert, missing, missing},
		{"wrong key", f.cert, f.caKey, f.caKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadKeyPair(tt.cert, tt.key)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v; want an error naming %s", err, tt.want)
			}
		})
	}
}

func TestIssueSANs(t *testing.T) {
	_, f := newLab(t)
	pair, err := LoadKeyPair(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != ssoName {
		t.Errorf("DNSNames: got %q", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("IPAddresses: got %v", leaf.IPAddresses)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage: got %v", leaf.ExtKeyUsage)
	}
}
