package backend

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/ratelog"
)

// proxyFuzzDeadline bounds one fuzzed connection.
const proxyFuzzDeadline = 3 * time.Second

// FuzzProxyListener sends arbitrary bytes to the site's PROXY-wrapped
// listener (optional and required policies) from a trusted (127.0.0.1) and
// an untrusted (127.0.0.2) address. Reading the connection must end (no
// hang, no panic); an untrusted sender must always be reported as itself;
// a trusted one only names another address when its bytes start with a
// PROXY signature. Connections are net.Pipes that carry a TCP peer address,
// so millions of runs leave no sockets in TIME_WAIT.
func FuzzProxyListener(f *testing.F) {
	for _, v := range []byte{1, 2} {
		var b bytes.Buffer
		b.Write(proxyHeader(f, v, false))
		b.WriteString("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		f.Add(b.Bytes(), true, false)
		f.Add(b.Bytes(), false, true)
	}
	f.Add(proxyHeader(f, 2, true), true, true)
	f.Add([]byte("PROXY UNKNOWN\r\n"), true, true)
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r"), true, false)
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c"), true, false)
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"), false, false)
	f.Fuzz(func(t *testing.T, data []byte, trusted, required bool) {
		from := &net.TCPAddr{IP: net.ParseIP(untrustedIP), Port: 40000}
		if trusted {
			from.IP = net.ParseIP(trustedIP)
		}
		ln := &pipeListener{conns: make(chan net.Conn, 1)}
		wrapped := ProxyProtocol{Trusted: []string{trustedIP}, Required: required}.wrap(ln, quietSite())
		client, server := net.Pipe()
		ln.conns <- addrConn{Conn: server, remote: from}
		go func() {
			client.SetDeadline(time.Now().Add(proxyFuzzDeadline))
			client.Write(data)
			client.Close()
		}()
		conn, err := wrapped.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(proxyFuzzDeadline))
		remote := conn.RemoteAddr().String()
		if _, err := io.Copy(io.Discard, conn); isTimeout(err) {
			t.Fatalf("reading hung until the deadline (from %s, %q)", from, data)
		}
		switch {
		case !trusted && remote != from.String():
			t.Fatalf("untrusted sender %s reported as %s", from, remote)
		case trusted && remote != from.String() && !startsWithProxySignature(data):
			t.Fatalf("trusted sender %s reported as %s without a PROXY header: %q", from, remote, data)
		}
	})
}

// pipeListener hands out the connections put in conns.
type pipeListener struct{ conns chan net.Conn }

func (l *pipeListener) Accept() (net.Conn, error) { return <-l.conns, nil }
func (l *pipeListener) Close() error              { return nil }
func (l *pipeListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.ParseIP(trustedIP), Port: 443} }

// addrConn is a pipe end that reports a TCP peer address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func startsWithProxySignature(b []byte) bool {
	return bytes.HasPrefix(b, []byte("PROXY ")) || bytes.HasPrefix(b, []byte("\r\n\r\n\x00\r\nQUIT\n"))
}

// quietSite is a Site with no logger and no server, enough for the
// listener wrappers.
func quietSite() *Site {
	return &Site{log: zap.NewNop(), rateLog: ratelog.New(rateLogEvery, rateLogKeys, time.Now)}
}
