//go:build linux

package chaos

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// slowResult is what became of one slow connection.
type slowResult struct {
	closed bool          // the server closed it (EOF or reset) before our bound
	after  time.Duration // when, from the connect
	err    error         // a connect error
}

// slowSpec is one kind of slow client: it dials, sends prefix at once,
// then drip a byte every dripEvery, and waits for the server to close,
// for at most bound.
type slowSpec struct {
	name   string
	dial   func() (net.Conn, error)
	prefix string
	drip   string
	bound  time.Duration
}

const dripEvery = 250 * time.Millisecond

// run opens n connections of the kind at once and returns their fates.
func (s slowSpec) run(n int) []slowResult {
	out := make([]slowResult, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() { defer wg.Done(); out[i] = s.one() }()
	}
	wg.Wait()
	return out
}

func (s slowSpec) one() slowResult {
	start := time.Now()
	conn, err := s.dial()
	if err != nil {
		return slowResult{err: err}
	}
	defer conn.Close()
	conn.SetReadDeadline(start.Add(s.bound))
	read := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, conn); read <- err }()
	io.WriteString(conn, s.prefix)
	tick := time.NewTicker(dripEvery)
	defer tick.Stop()
	for i := 0; i < len(s.drip); i++ {
		select {
		case err := <-read:
			return closedBy(start, err)
		case <-tick.C:
			conn.Write([]byte{s.drip[i]}) // a failed write shows in the read
		}
	}
	return closedBy(start, <-read)
}

// closedBy: io.Copy's nil (EOF) or a reset is the server closing; a
// timeout is our bound passing first.
func closedBy(start time.Time, err error) slowResult {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return slowResult{after: time.Since(start)}
	}
	return slowResult{closed: true, after: time.Since(start)}
}

// summary checks that every slow connection was closed by the server and
// says when.
func summary(t testing.TB, name string, res []slowResult) string {
	t.Helper()
	var closed int
	var lo, hi time.Duration
	for _, r := range res {
		if r.err != nil {
			t.Errorf("%s: connect: %v", name, r.err)
			continue
		}
		if !r.closed {
			t.Errorf("%s: the server had not closed the connection after %v", name, r.after.Round(time.Millisecond))
			continue
		}
		if closed == 0 || r.after < lo {
			lo = r.after
		}
		hi = max(hi, r.after)
		closed++
	}
	return fmt.Sprintf("%s %d/%d closed in %.1f-%.1fs", name, closed, len(res), lo.Seconds(), hi.Seconds())
}

// slowHeaders is a request whose headers never end.
func slowHeaders(fqdn string) string {
	return "GET / HTTP/1.1\r\nHost: " + fqdn + "\r\nX-Slowloris: " + strings.Repeat("a", 400)
}

// noBody is a POST announcing a body it never sends.
func noBody(fqdn string) string {
	return "POST / HTTP/1.1\r\nHost: " + fqdn + "\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n"
}

func dialTCP(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }
}

func (c *client) dialTLS(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, c.tlsConfig())
	}
}

// clientHello is the bytes of a TLS ClientHello for fqdn, to send slowly.
func clientHello(t testing.TB, fqdn string) string {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: fqdn}).Handshake()
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(b, body); err != nil {
		t.Fatal(err)
	}
	return string(hdr) + string(body)
}

// slowPost is an authenticated POST in flight: connected, headers and
// half its body sent.
type slowPost struct {
	conn  net.Conn
	start time.Time
	rest  string
}

const postBody = "0123456789abcdef"

func (c *client) startSlowPost(addr string) (*slowPost, error) {
	p := &slowPost{start: time.Now(), rest: postBody[8:]}
	conn, err := c.dialTLS(addr)()
	if err != nil {
		return nil, err
	}
	p.conn = conn
	req, _ := http.NewRequest(http.MethodPost, "https://"+c.fqdn+"/", nil)
	if err := c.authorize(req); err != nil {
		conn.Close()
		return nil, err
	}
	_, err = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		c.fqdn, req.Header.Get("Authorization"), len(postBody), postBody[:8])
	if err != nil {
		conn.Close()
		return nil, err
	}
	return p, nil
}

// finish sends the rest of the body and reads the answer.
func (p *slowPost) finish() result {
	defer p.conn.Close()
	r := result{start: p.start, wrote: true}
	p.conn.SetDeadline(time.Now().Add(requestTimeout))
	if _, r.err = io.WriteString(p.conn, p.rest); r.err == nil {
		var resp *http.Response
		if resp, r.err = http.ReadResponse(bufio.NewReader(p.conn), nil); r.err == nil {
			r.status = resp.StatusCode
			resp.Body.Close()
		}
	}
	r.end = time.Now()
	return r
}

// flood opens up to n idle TCP connections to addr (each bounded by a
// connect timeout) and keeps them until release.
type flood struct {
	conns []net.Conn
}

func startFlood(addr string, n int) *flood {
	f := &flood{}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			continue // the backlog is full: that client is refused
		}
		f.conns = append(f.conns, c)
	}
	return f
}

// release closes every connection and says how many the server had
// closed already (a read sees EOF or a reset at once).
func (f *flood) release() (closedByServer int) {
	for _, c := range f.conns {
		c.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
			closedByServer++
		}
		c.Close()
	}
	return closedByServer
}
