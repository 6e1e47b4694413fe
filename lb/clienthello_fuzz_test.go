package lb

import (
	"bytes"
	"crypto/tls"
	"errors"
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
		// X25519 alone: Go's default adds an ML-KEM key share of 1.2 KB,
		// which the harness never parses (it stops before the key
		// exchange) and which makes each minimisation (O(n²) in the
		// input's size) 30 times longer.
		cc := tls.Client(c, &tls.Config{ServerName: serverName, NextProtos: alpn, MaxVersion: maxVersion,
			CurvePreferences: []tls.CurveID{tls.X25519}, InsecureSkipVerify: true})
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
// handshake with an error, never a panic or a hang.
//
// Each exec stops the handshake once the hello is parsed and a
// certificate chosen (errHelloParsed, from GetConfigForClient, which runs
// before the key exchange): the parsing and the SNI choice are what is
// under test, and the key exchange and signature that would follow cost
// 25 times more (226 µs against 8.5 µs an exec). Go's fuzzer minimises
// every input that finds new coverage, trying O(n²) cuts of it, and
// reports no execs until that is done: with the whole handshake and
// 1.5 KB seeds (see recordHello), minimisations took up to the full
// minute of -fuzzminimizetime, shown as 0 execs/s.
func FuzzClientHello(f *testing.F) {
	conf := fuzzTLSConfig(f)
	picked := 0 // certificates chosen: only the setup check reads it
	get := conf.GetCertificate
	conf.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		picked++
		if _, err := get(h); err != nil {
			return nil, err
		}
		return nil, errHelloParsed
	}
	first := recordHello(f, ssoName, []string{"http/1.1"}, 0)
	if err := handshakeBytes(conf, first); picked == 0 || !errors.Is(err, errHelloParsed) {
		f.Fatalf("a recorded ClientHello: %v, %d certificates chosen; want %v after one: the harness tests nothing", err, picked, errHelloParsed)
	}
	f.Add(first)
	f.Add(recordHello(f, "other.localhost", []string{"h2", "http/1.1"}, tls.VersionTLS12))
	f.Add(recordHello(f, "", nil, 0))
	f.Add(recordHello(f, "127.0.0.1", []string{"x"}, tls.VersionTLS13))
	f.Add([]byte{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00})
	// A record header announcing more than TLS allows, then more bytes:
	// refused before it is read whole, it hung the net.Pipe harness.
	f.Add(append([]byte{0x16, 0x03, 0x01, 0x48, 0x01}, make([]byte, 64)...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, hello []byte) {
		if err := handshakeBytes(conf, hello); err == nil {
			t.Fatalf("a handshake with a client that hung up succeeded")
		}
	})
}

// errHelloParsed stops a fuzzed handshake once its certificate is chosen.
var errHelloParsed = errors.New("hello parsed")

// fuzzTLSConfig is the terminate path's TLS configuration, with two
// certificates to choose from by SNI.
func fuzzTLSConfig(f *testing.F) *tls.Config {
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
	return conf
}

// handshakeBytes runs the server side of a handshake whose client sends
// hello and then hangs up, and returns how it ended. The connection is in memory (bytesConn): reads
// return hello, then EOF; writes are dropped. No goroutine, socket or
// deadline is involved, so no input can stall an exec: over net.Pipe, an
// input the server refuses before reading it whole (a record header
// announcing too many bytes) left both ends blocked writing to each other
// until the deadline, 2 s per exec, and the fuzzer's minimisation of such
// an input showed as a minute at 0 execs/s.
func handshakeBytes(conf *tls.Config, hello []byte) error {
	c := bytesConn{Reader: bytes.NewReader(hello), addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 50000}}
	return tls.Server(c, conf).Handshake()
}
