package backend

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Time bounds of each phase of a connection, beside http.sys's timers
// (HeaderWait 2m, EntityBody 2m, MinSendRate 150 B/s, IdleConnection 2m).
// The headers, body and idle bounds are Config.HeaderTimeout (10s),
// BodyTimeout (30s) and IdleTimeout (2m).
const (
	// sendTimeout bounds writing one response once the body is read. Our
	// answers are under 2 KB: http.sys's MinSendRate of 150 B/s would
	// allow them about 14 s; 30 s leaves room for a loaded machine.
	sendTimeout = 30 * time.Second
)

// setDeadlines bounds what is left of the request: its body must arrive
// within BodyTimeout (net/http reads an unread body of up to 256 KB
// before it answers, so without this a client announcing a
// Content-Length it never sends holds the connection, and the answer,
// forever), and the answer must be sent within sendTimeout after that.
// Without a server (httptest) the calls fail harmlessly.
func (s *Site) setDeadlines(w http.ResponseWriter) {
	now := time.Now()
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(now.Add(s.cfg.BodyTimeout))
	rc.SetWriteDeadline(now.Add(s.cfg.BodyTimeout + sendTimeout))
}

// limitListener accepts at most cap(sem) connections at once. Past that,
// each new connection is handed to reject (which closes it) and Accept
// goes on waiting, so the Serve loop never sees it.
type limitListener struct {
	net.Listener
	sem    chan struct{}
	reject func(net.Conn)
}

func newLimitListener(ln net.Listener, max int, reject func(net.Conn)) *limitListener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, max), reject: reject}
}

// Accept returns the next connection within the limit.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: sync.OnceFunc(func() { <-l.sem })}, nil
		default:
			l.reject(c)
		}
	}
}

// limitConn gives its slot back when closed (net/http closes every
// connection it accepted, whatever the way the connection ended).
type limitConn struct {
	net.Conn
	release func()
}

func (c *limitConn) Close() error {
	defer c.release()
	return c.Conn.Close()
}

// CloseWrite keeps net/http's graceful close (FIN, then close) working.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Bounds of the rejection of connections over the limit.
const (
	rejectDrainers = 64              // connections answered at once; more are closed unanswered
	rejectLinger   = 1 * time.Second // time given to each to read the 503
	rejectDrainMax = 64 << 10        // bytes of its request read (and dropped) meanwhile
)

const busyBody = "503 - Service Unavailable: this host has reached its connection limit (maxConnections).\r\n"

// busyResponse is sent to connections over the limit, as http.sys sends
// 503 when an application pool's queue is full.
var busyResponse = []byte("HTTP/1.1 503 Service Unavailable\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Length: " + strconv.Itoa(len(busyBody)) + "\r\n" +
	"Connection: close\r\n\r\n" + busyBody)

// rejecter answers connections over the limit.
type rejecter struct {
	site    *Site
	tls     bool // the site speaks TLS: close unanswered, spend no handshake
	drainer chan struct{}
}

// reject counts and logs (rate-limited) a connection over the limit and
// answers it in the background; past rejectDrainers, it just closes it.
func (r *rejecter) reject(c net.Conn) {
	r.site.stats.connRejected.Add(1)
	remote := c.RemoteAddr().String()
	if ok, n := r.site.rateLog.Allow("maxConnections"); ok {
		r.site.log.Warn("connection refused: maxConnections reached", zap.String("remote", remote),
			zap.Int("maxConnections", r.site.cfg.MaxConnections), zap.Int("suppressed", n))
	}
	if r.tls {
		c.Close()
		return
	}
	select {
	case r.drainer <- struct{}{}:
		go r.answerBusy(c)
	default:
		c.Close()
	}
}

// answerBusy writes the 503, half-closes, and reads what the client sent
// for a moment so that closing does not reset the connection (and lose
// the 503) under the client.
func (r *rejecter) answerBusy(c net.Conn) {
	defer func() { <-r.drainer }()
	defer c.Close()
	c.SetDeadline(time.Now().Add(rejectLinger))
	if _, err := c.Write(busyResponse); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.CopyN(io.Discard, c, rejectDrainMax)
}
