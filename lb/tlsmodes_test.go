package lb

import (
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// tlsEcho is a TLS echo backend presenting a certificate for 127.0.0.1
// from ca.
func tlsEcho(t *testing.T, ca *tlsterm.CA) net.Listener {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "be.pem"), filepath.Join(dir, "be-key.pem")
	if err := ca.Issue([]string{"127.0.0.1"}, cf, kf); err != nil {
		t.Fatal(err)
	}
	cert, err := tlsterm.LoadKeyPair(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	ln := tls.NewListener(listen(t), tlsterm.ServerConfig(cert))
	serve(ln, func(c net.Conn) { io.Copy(c, c) })
	return ln
}

func echoOnce(t *testing.T, c net.Conn, msg string) error {
	t.Helper()
	c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		t.Errorf("echo: got %q; want %q", buf, msg)
	}
	return nil
}

// TestReencrypt: TLS from the client ends at the balancer and a new TLS
// connection, verified against backend_ca, goes to the backend; a backend
// whose certificate chains to another CA is refused.
func TestReencrypt(t *testing.T) {
	lc := newLabCerts(t)
	other := newLabCerts(t)
	good, bad := tlsEcho(t, lc.ca), tlsEcho(t, other.ca)
	for _, tc := range []struct {
		name string
		be   net.Listener
		ok   bool
	}{{"verified backend", good, true}, {"backend from another CA", bad, false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Mode: ModeReencrypt, Backends: backends(tc.be), BackendCA: lc.caFile,
				CertFile: lc.certFile, KeyFile: lc.keyFile, Health: Health{Interval: time.Hour}}
			_, front := startLB(t, cfg, nil, nil)
			c, err := tls.Dial("tcp", front, lc.client)
			if err != nil {
				t.Fatalf("client handshake: %v", err)
			}
			defer c.Close()
			err = echoOnce(t, c, "over two TLS hops")
			if tc.ok && err != nil {
				t.Errorf("echo: %v", err)
			}
			if !tc.ok && err == nil {
				t.Error("echo went through a backend with an untrusted certificate")
			}
		})
	}
}

// TestSNICertificates: the certificate is chosen by the client's SNI name;
// the first one is the default for any other name.
func TestSNICertificates(t *testing.T) {
	lc := newLabCerts(t)
	dir := t.TempDir()
	other := KeyPair{CertFile: filepath.Join(dir, "o.pem"), KeyFile: filepath.Join(dir, "o-key.pem")}
	if err := lc.ca.Issue([]string{"other.krbfarm.localhost"}, other.CertFile, other.KeyFile); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Backends: backends(nameBackend(t, "a")), CertFile: lc.certFile, KeyFile: lc.keyFile,
		Certificates: []KeyPair{other}, Health: Health{Interval: time.Hour}}
	_, front := startLB(t, cfg, nil, nil)
	for sni, want := range map[string]string{ssoName: ssoName, "other.krbfarm.localhost": "other.krbfarm.localhost", "unknown.example": ssoName} {
		conf := lc.client.Clone()
		conf.ServerName, conf.InsecureSkipVerify = sni, true
		c, err := tls.Dial("tcp", front, conf)
		if err != nil {
			t.Fatalf("SNI %s: %v", sni, err)
		}
		if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != want {
			t.Errorf("SNI %s: got a certificate for %s; want %s", sni, got, want)
		}
		c.Close()
	}
}

// TestCertReloadOnFileChange: rewriting the certificate files is enough;
// the next handshake gets the new certificate.
func TestCertReloadOnFileChange(t *testing.T) {
	lc := newLabCerts(t)
	o := newObserved()
	cfg := Config{Backends: backends(nameBackend(t, "a")), CertFile: lc.certFile, KeyFile: lc.keyFile,
		CertReloadInterval: 10 * time.Millisecond, Health: Health{Interval: time.Hour}}
	_, front := startLB(t, cfg, nil, o.log)
	first, err := tls.Dial("tcp", front, lc.client)
	if err != nil {
		t.Fatal(err)
	}
	oldSerial := first.ConnectionState().PeerCertificates[0].SerialNumber
	first.Close()
	if err := lc.ca.Issue([]string{ssoName, "127.0.0.1"}, lc.certFile, lc.keyFile); err != nil {
		t.Fatal(err)
	}
	o.waitEvent(t, "certificates reloaded")
	c, err := tls.Dial("tcp", front, lc.client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(oldSerial) == 0 {
		t.Error("after the files changed: still the old certificate")
	}
}

// TestTerminateTLSSettings: TLS 1.2 minimum, ALPN http/1.1, and session
// resumption with tickets.
func TestTerminateTLSSettings(t *testing.T) {
	lc := newLabCerts(t)
	echo := listen(t)
	serve(echo, func(c net.Conn) { io.Copy(c, c) })
	cfg := Config{Backends: backends(echo), CertFile: lc.certFile, KeyFile: lc.keyFile, Health: Health{Interval: time.Hour}}
	_, front := startLB(t, cfg, nil, nil)

	old := lc.client.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	if c, err := tls.Dial("tcp", front, old); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was accepted; want TLS 1.2 minimum")
	}

	conf := lc.client.Clone()
	conf.NextProtos = []string{"h2", "http/1.1"}
	conf.ClientSessionCache = tls.NewLRUClientSessionCache(4)
	for i, wantResume := range []bool{false, true} {
		c, err := tls.Dial("tcp", front, conf)
		if err != nil {
			t.Fatal(err)
		}
		// The echo makes the client read the server's session ticket.
		if err := echoOnce(t, c, "ticket please"); err != nil {
			t.Fatal(err)
		}
		st := c.ConnectionState()
		c.Close()
		if st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("connection %d: ALPN %q; want http/1.1", i, st.NegotiatedProtocol)
		}
		if st.DidResume != wantResume {
			t.Errorf("connection %d: resumed=%v; want %v", i, st.DidResume, wantResume)
		}
	}
}
