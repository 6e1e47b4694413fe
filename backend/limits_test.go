package backend

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// limitMargin is how long past a configured bound a test waits for the
// server to act before calling it a failure.
const limitMargin = 5 * time.Second

// Regression: a POST announcing a body it never sends held its connection
// (and its answer) forever: net/http reads up to 256 KB of an unread body
// before answering, with no deadline once the headers were in.
func TestBodyNeverSentIsClosed(t *testing.T) {
	f := newFixture(t)
	const timeout = 300 * time.Millisecond
	addr := serveSite(t, mustSite(t, f, func(c *Config) { c.BodyTimeout = timeout }))
	tests := []struct{ name, req string }{
		{"content-length, no body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"},
		{"content-length, part of the body", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc"},
		{"chunked, never ends", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"},
		{"healthz with a body", "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn := dialRaw(t, addr, timeout+limitMargin)
			start := time.Now()
			if _, err := io.WriteString(conn, tt.req); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(conn) // until the server closes
			if err != nil {
				t.Fatalf("after %v: %v; want the server to answer and close within %v", time.Since(start), err, timeout)
			}
			if !strings.HasPrefix(string(got), "HTTP/1.1 ") {
				t.Errorf("got %q; want an HTTP answer before the close", got)
			}
			if d := time.Since(start); d < timeout {
				t.Errorf("closed after %v; want no sooner than the body timeout %v", d, timeout)
			}
		})
	}
}

// A body that does arrive in time leaves the connection usable.
func TestBodyInTimeKeepsConnection(t *testing.T) {
	f := newFixture(t)
	addr := serveSite(t, mustSite(t, f, func(c *Config) { c.BodyTimeout = 2 * time.Second }))
	conn := dialRaw(t, addr, limitMargin)
	br := bufio.NewReader(conn)
	for i := range 2 {
		io.WriteString(conn, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 || resp.Close {
			t.Fatalf("request %d: %s (close %v); want 200 on a kept connection", i+1, resp.Status, resp.Close)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	f := newFixture(t)
	const limit, over = 3, 2
	s, logs := newSite(t, "server1", f.siteKT, func(c *Config) { c.MaxConnections = limit })
	addr := serveSite(t, s)
	held := make([]net.Conn, limit)
	for i := range held {
		held[i] = dialRaw(t, addr, limitMargin)
		if st := healthz(held[i]); st != "200" {
			t.Fatalf("connection %d: %s; want 200 (within the limit)", i+1, st)
		}
	}
	for i := range over {
		c := dialRaw(t, addr, limitMargin)
		if st := healthz(c); st != "503" {
			t.Fatalf("connection %d over the limit: %q; want 503", i+1, st)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Errorf("connection %d over the limit: read after the 503: %v; want EOF", i+1, err)
		}
	}
	if got := s.Stats().ConnectionsRejected; got != over {
		t.Errorf("ConnectionsRejected = %d; want %d", got, over)
	}
	if n := logs.FilterMessage("connection refused: maxConnections reached").Len(); n != 1 {
		t.Errorf("%d lines for %d refused connections; want 1 (rate-limited)", n, over)
	}
	held[0].Close() // frees a slot once the server sees the close
	deadline := time.Now().Add(limitMargin)
	for st := ""; st != "200"; {
		if time.Now().After(deadline) {
			t.Fatalf("a slot freed by a closed connection was not reused within %v (last %q)", limitMargin, st)
		}
		st = healthz(dialRaw(t, addr, limitMargin))
	}
}

// dialRaw connects to addr with a deadline d on the whole exchange.
func dialRaw(t *testing.T, addr string, d time.Duration) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(d))
	return conn
}

// healthz sends GET /healthz on conn, keeping it open, and returns the
// status code, or the error text.
func healthz(conn net.Conn) string {
	if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return err.Error()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.Status[:3]
}

func TestLimitsConfig(t *testing.T) {
	c := Config{Name: "s", Keytab: "k"}.withDefaults()
	if c.BodyTimeout != DefaultBodyTimeout || c.MaxConnections != DefaultMaxConnections {
		t.Errorf("defaults: body_timeout %v, maxConnections %d; want %v, %d", c.BodyTimeout, c.MaxConnections, DefaultBodyTimeout, DefaultMaxConnections)
	}
	if c.HeaderTimeout != DefaultHeaderTimeout || c.IdleTimeout != DefaultIdleTimeout {
		t.Errorf("defaults: header_timeout %v, idle_timeout %v; want %v, %v", c.HeaderTimeout, c.IdleTimeout, DefaultHeaderTimeout, DefaultIdleTimeout)
	}
	bad := Config{Name: "s", Keytab: "k", BodyTimeout: -time.Second, MaxConnections: -1, HeaderTimeout: -1, IdleTimeout: -1}
	err := bad.Validate()
	for _, want := range []string{"body_timeout", "maxConnections", "header_timeout", "idle_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want an error naming %s", err, want)
		}
	}
}

// header_timeout and idle_timeout close a connection whose headers never
// end, or that waits too long for its next request, no sooner than told.
func TestHeaderAndIdleTimeouts(t *testing.T) {
	f := newFixture(t)
	const timeout = 300 * time.Millisecond
	addr := serveSite(t, mustSite(t, f, func(c *Config) { c.HeaderTimeout, c.IdleTimeout = timeout, timeout }))
	t.Run("headers never end", func(t *testing.T) {
		conn := dialRaw(t, addr, timeout+limitMargin)
		start := time.Now()
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n")
		got, err := io.ReadAll(conn)
		if err != nil {
			t.Fatalf("after %v: %v; want the server to close within %v", time.Since(start), err, timeout)
		}
		if d := time.Since(start); d < timeout {
			t.Errorf("closed after %v; want no sooner than header_timeout %v", d, timeout)
		}
		if strings.HasPrefix(string(got), "HTTP/1.1 2") {
			t.Errorf("got %q; want no answer to headers that never ended", got)
		}
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		conn := dialRaw(t, addr, timeout+limitMargin)
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		start := time.Now()
		if _, err := br.ReadByte(); err != io.EOF {
			t.Fatalf("idle connection: read %v after %v; want EOF", err, time.Since(start))
		}
		if d := time.Since(start); d < timeout-50*time.Millisecond {
			t.Errorf("idle connection closed after %v; want no sooner than idle_timeout %v", d, timeout)
		}
	})
}
