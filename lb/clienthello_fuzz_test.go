package lb

import (
	"crypto/tls"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// helloDeadline bounds one fuzzed handshake; net.Pipe honours deadlines.
const helloDeadline = 2 * time.Second

// recordHello returns the bytes a TLS client sends first (its ClientHello)
// for serverName, with the given ALPN protocols and top version.
func recordHello(t testing.TB, serverName string, alpn []string, maxVersion uint16) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		cc := tls.Client(c, &tls.Config{ServerName: serverName, NextProtos: alpn, MaxVersion: maxVersion, InsecureSkipVerify: true})
		cc.SetDeadline(time.Now().Add(helloDeadline))
		cc.Handshake()
		c.Close()
	}()
	s.SetReadDeadline(time.Now().Add(helloDeadline))
	buf := make([]byte, 64<<10)
	n, _ := s.Read(buf)
	return buf[:n]
}

// FuzzClientHello feeds arbitrary bytes as a client's first flight to the
// terminate path's TLS server (the certificates loaded from config, chosen
// by SNI through tlsterm.Certs.GetCertificate): every input must end the
// handshake with an error or a success, never a panic or a hang.
func FuzzClientHello(f *testing.F) {
	lc := newLabCerts(f)
	other := filepath.Join(f.TempDir(), "other")
	if err := lc.ca.Issue([]string{"other.localhost"}, other+".pem", other+"-key.pem"); err != nil {
		f.Fatal(err)
	}
	conf, _, err := loadTLS(Config{CertFile: lc.certFile, KeyFile: lc.keyFile,
		Certificates: []KeyPair{{CertFile: other + ".pem", KeyFile: other + "-key.pem"}}})
	if err != nil {
		f.Fatal(err)
	}
	picked := 0 // certificates chosen: only the setup check reads it
	get := conf.GetCertificate
	conf.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { picked++; return get(h) }
	first := recordHello(f, ssoName, []string{"http/1.1"}, 0)
	if handshakeBytes(conf, first); picked == 0 {
		f.Fatal("a recorded ClientHello never reached GetCertificate: the harness tests nothing")
	}
	conf.GetCertificate = get
	f.Add(first)
	f.Add(recordHello(f, "other.localhost", []string{"h2", "http/1.1"}, tls.VersionTLS12))
	f.Add(recordHello(f, "", nil, 0))
	f.Add(recordHello(f, "127.0.0.1", []string{"x"}, tls.VersionTLS13))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, hello []byte) { handshakeBytes(conf, hello) })
}

// handshakeBytes runs the server side of a handshake whose client sends
// hello and then hangs up.
func handshakeBytes(conf *tls.Config, hello []byte) {
	c, s := net.Pipe()
	defer c.Close()
	go func() {
		// net.Pipe's Write returns once the server has read every byte;
		// closing then makes the server's answer (or its wait for more)
		// fail at once, after it has parsed the hello and picked a
		// certificate.
		c.SetWriteDeadline(time.Now().Add(helloDeadline))
		c.Write(hello)
		c.Close()
	}()
	srv := tls.Server(s, conf)
	srv.SetDeadline(time.Now().Add(helloDeadline))
	srv.Handshake()
	s.Close()
}
