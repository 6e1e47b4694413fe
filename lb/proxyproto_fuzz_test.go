package lb

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
)

// chanListener hands out the connections sent on it: a listener for fuzz
// iterations that cost no sockets.
type chanListener chan net.Conn

func (l chanListener) Accept() (net.Conn, error) {
	c, ok := <-l
	if !ok {
		return nil, net.ErrClosed
	}
	return c, nil
}
func (l chanListener) Close() error   { return nil }
func (l chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 443} }

// bytesConn is a connection from addr that reads data, then EOF: no
// goroutine, no socket, no blocking write.
type bytesConn struct {
	*bytes.Reader
	addr net.Addr
}

func (c bytesConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c bytesConn) Close() error                     { return nil }
func (c bytesConn) LocalAddr() net.Addr              { return chanListener(nil).Addr() }
func (c bytesConn) RemoteAddr() net.Addr             { return c.addr }
func (c bytesConn) SetDeadline(time.Time) error      { return nil }
func (c bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c bytesConn) SetWriteDeadline(time.Time) error { return nil }

// FuzzProxyHeader feeds arbitrary bytes to a ProxyListener, once from a
// trusted sender and once from an untrusted one. It must never panic; an
// untrusted sender never changes the reported address and either gets its
// bytes through untouched (or none, for a header cut short) or is
// refused; bytes that do not start like a
// header pass through untouched from anyone.
func FuzzProxyHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 4444 443\r\nGET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte("PROXY TCP6 ::1 ::1 1 2\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP4 999.0.0.1 1.1.1.1 1 2\r\n"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\xc0\x00\x02\x07\xc0\x00\x02\x01\x11\x5c\x01\xbb"))
	f.Add([]byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	sender := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, trusted := range []bool{true, false} {
			list := []string{"10.0.0.0/8"}
			if trusted {
				list = []string{"127.0.0.1"}
			}
			// Called inline: a goroutine and a timer per exec made coverage
			// differ from run to run, and the fuzzer stalled minimising
			// inputs. bytesConn never blocks, so a read cannot hang.
			got, remote, err := throughProxyListener(data, list, sender)
			looksLikeHeader := bytes.HasPrefix(data, []byte("PROXY")) || bytes.HasPrefix(data, []byte("\r\n\r\n"))
			if !looksLikeHeader && len(data) >= 12 && (err != nil || !bytes.Equal(got, data)) {
				t.Fatalf("trusted=%v: plain bytes %q came through as %q, %v", trusted, data, got, err)
			}
			if trusted {
				continue
			}
			if remote.String() != sender.String() {
				t.Fatalf("untrusted sender reported as %v", remote)
			}
			// A header cut short at EOF (the bare v2 signature) is
			// swallowed by go-proxyproto: no bytes arrive, but none
			// are invented either.
			if err == nil && !bytes.Equal(got, data) && (len(got) != 0 || !looksLikeHeader) {
				t.Fatalf("untrusted: %q came through as %q", data, got)
			}
		}
	})
}

func throughProxyListener(data []byte, trusted []string, sender net.Addr) ([]byte, net.Addr, error) {
	ch := make(chanListener, 1)
	ln := ProxyListener(ch, trusted, nil)
	ch <- bytesConn{Reader: bytes.NewReader(data), addr: sender}
	c, err := ln.Accept()
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	got, err := io.ReadAll(c)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return got, c.RemoteAddr(), err
}

// TestProxyHeaderSeeds runs the interesting fuzz inputs as a plain test
// with the properties spelled out.
func TestProxyHeaderSeeds(t *testing.T) {
	sender := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
	got, remote, err := throughProxyListener([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 4444 443\r\nhi"), []string{"127.0.0.1"}, sender)
	if err != nil || string(got) != "hi" || remote.String() != "192.0.2.7:4444" {
		t.Errorf("trusted v1: got %q from %v, %v; want hi from 192.0.2.7:4444", got, remote, err)
	}
	_, remote, err = throughProxyListener([]byte("PROXY TCP4 192.0.2.7 192.0.2.1 4444 443\r\nhi"), nil, sender)
	if !errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) || remote.String() != sender.String() {
		t.Errorf("untrusted v1: got %v from %v; want ErrSuperfluousProxyHeader from the sender", err, remote)
	}
}
