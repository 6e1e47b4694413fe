package backend

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest/observer"
)

// testCert writes a self-signed certificate for 127.0.0.1 and the test
// SPN's host, signed by key with alg, and returns its files and itself.
func testCert(t testing.TB, key crypto.Signer, alg x509.SignatureAlgorithm) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "sso.krbfarm.localhost"},
		DNSNames:              []string{"sso.krbfarm.localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		SignatureAlgorithm:    alg,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("CreateCertificate: %v", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "PRIVATE KEY", kb)
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clientBnd is what a client puts in Bnd after seeing cert (signed with
// SHA-256) in the TLS handshake, written from RFC 5929 and RFC 4121
// §4.1.1.2 independently of the code under test.
func clientBnd(cert *x509.Certificate) []byte {
	app := clientBndAppData(cert)
	var hdr [20]byte // initiator addrtype, length; acceptor addrtype, length: 0
	binary.LittleEndian.PutUint32(hdr[16:], uint32(len(app)))
	h := md5.Sum(append(hdr[:], app...))
	return h[:]
}

// clientBndAppData is the tls-server-end-point application data of a
// certificate signed with SHA-256.
func clientBndAppData(cert *x509.Certificate) []byte {
	sum := sha256.Sum256(cert.Raw)
	return append([]byte("tls-server-end-point:"), sum[:]...)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// epaSite serves a site with ep (over TLS when certFile is set) on
// 127.0.0.1:0 and returns its base URL, a client trusting cert, and the
// event log path and logs.
type epaSite struct {
	base   string
	client *http.Client
	events string
	logs   *observer.ObservedLogs
}

func serveEPA(t *testing.T, f *fixture, ep ExtendedProtection, certFile, keyFile string, cert *x509.Certificate) *epaSite {
	t.Helper()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	s, logs := newSite(t, "server1", f.siteKT, func(c *Config) {
		c.ExtendedProtection, c.EventLog = ep, events
		c.TLSCert, c.TLSKey = certFile, keyFile
	})
	ln := listen(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	e := &epaSite{base: "http://" + ln.Addr().String(), client: &http.Client{Timeout: 10 * time.Second}, events: events, logs: logs}
	if cert != nil {
		pool := x509.NewCertPool()
		pool.AddCert(cert)
		e.base = "https://" + ln.Addr().String()
		e.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	return e
}

// peerCert returns the certificate the client saw from the site.
func (e *epaSite) peerCert(t *testing.T) *x509.Certificate {
	t.Helper()
	resp, err := e.client.Get(e.base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		t.Fatal("no TLS peer certificate")
	}
	return resp.TLS.PeerCertificates[0]
}

// get sends auth and returns the status and, on 200, the identity.
func (e *epaSite) get(t *testing.T, auth string) (int, *Identity) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.base+"/", nil)
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return resp.StatusCode, &id
}

// checkRefusal checks the one Warn line and the one 4625 event of a
// refusal, then forgets them.
func (e *epaSite) checkRefusal(t *testing.T, reason string) {
	t.Helper()
	var lines []observer.LoggedEntry
	for _, l := range e.logs.TakeAll() {
		if l.Message == "negotiate refused" {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || lines[0].ContextMap()["reason"] != reason {
		t.Errorf("refusal log lines %v; want one with reason %s", lines, reason)
	}
	f, err := os.Open(e.events)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, _, _ := ReadEvents(f, 0)
	var fails []Event
	for _, ev := range evs {
		if ev.ID == EventLogonFailure {
			fails = append(fails, ev)
		}
	}
	if len(fails) == 0 {
		t.Fatalf("no 4625 event; want one with reason %s", reason)
	}
	last := fails[len(fails)-1]
	if last.Reason != reason || last.Status != "0xC000035B" || last.Package != "Kerberos" || last.User != "alice@"+testRealm {
		t.Errorf("4625 = %+v; want reason %s, status 0xC000035B, package Kerberos, user alice", last, reason)
	}
}

func TestChannelBindingsHashKnownAnswer(t *testing.T) {
	// Expected values from Python: md5(struct.pack('<5I', 0, 0, 0, 0, len(app)) + app).
	app := append([]byte("tls-server-end-point:"), make([]byte, 32)...)
	for i := range 32 {
		app[21+i] = byte(i)
	}
	for _, tt := range []struct {
		app  []byte
		want string
	}{
		{nil, "441018525208457705bf09a8ee3c1093"},
		{app, "8f1214c9c9cab8dc3bf866da9aba57a7"},
	} {
		got := ChannelBindingsHash(tt.app)
		if hex.EncodeToString(got[:]) != tt.want {
			t.Errorf("ChannelBindingsHash(%d bytes) = %x; want %s", len(tt.app), got, tt.want)
		}
	}
}
