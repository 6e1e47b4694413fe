package lb

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/ratelog"
)

// Bounds of the refused-PROXY-header line: at most one per sender address
// per proxyLogEvery, for at most proxyLogKeys addresses at once (as the
// backends' own "proxy header refused" line).
const (
	proxyLogEvery = 10 * time.Second
	proxyLogKeys  = 4096
)

// PROXY protocol versions, the values of Config.ProxyProtocol.
const (
	ProxyV1 = "v1" // the text header: "PROXY TCP4 client front cport fport\r\n"
	ProxyV2 = "v2" // the binary header
)

// proxyVersion maps Config.ProxyProtocol to go-proxyproto's version byte;
// 0 means no header.
func proxyVersion(v string) byte {
	switch v {
	case ProxyV1:
		return 1
	case ProxyV2:
		return 2
	}
	return 0
}

// writeProxyHeader sends the PROXY header on a new backend connection
// before any client byte: client and front are the client connection's
// ends. Health checks pass nil for both and send a LOCAL header (v2) or
// "PROXY UNKNOWN" (v1), which says the balancer itself is connecting.
func writeProxyHeader(conn net.Conn, version byte, client, front net.Addr) error {
	if _, err := proxyproto.HeaderProxyFromAddrs(version, client, front).WriteTo(conn); err != nil {
		return fmt.Errorf("write PROXY header: %w", err)
	}
	return nil
}

// ProxyListener wraps a backend's listener so it reads PROXY protocol
// headers (v1 or v2) from trusted senders only, the load balancers: their
// connections report the client's address from the header as RemoteAddr,
// or the sender's own when it sends none (a health check). Anyone else's
// header is refused: the first Read on that connection fails with
// go-proxyproto's ErrSuperfluousProxyHeader, so a client cannot pose as
// another address. Each refusal is logged on log (nil: not logged) with
// the sender's address, at most one line a second (with how many were
// held back): someone is either attacking or a balancer is missing from
// trusted. trusted holds IP addresses and CIDR ranges; entries that parse
// as neither are ignored (they trust no one); check them first with
// ValidateTrusted.
//
//	ln = lb.ProxyListener(ln, []string{"127.0.0.1", "10.0.0.0/24"}, log)
func ProxyListener(ln net.Listener, trusted []string, log *zap.Logger) net.Listener {
	var ok []string
	for _, t := range trusted {
		if ValidateTrusted([]string{t}) == nil {
			ok = append(ok, t)
		}
	}
	policy := proxyproto.MustPolicyFromRanges(ok, proxyproto.USE, proxyproto.REJECT)
	if log == nil {
		log = zap.NewNop()
	}
	return &proxyListener{Listener: &proxyproto.Listener{Listener: ln, ConnPolicy: policy}, log: log,
		lines: ratelog.New(proxyLogEvery, proxyLogKeys, time.Now)}
}

// proxyListener logs the refusals of its go-proxyproto listener.
type proxyListener struct {
	net.Listener
	log   *zap.Logger
	lines *ratelog.Limiter // per sender address
}

func (l *proxyListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &proxyConn{Conn: c, l: l}, nil
}

// refused logs an untrusted sender's header, at most once per sender
// address (its IP: each connection has another port) per proxyLogEvery.
func (l *proxyListener) refused(sender net.Addr) {
	if ok, suppressed := l.lines.Allow(senderIP(sender)); ok {
		l.log.Warn("PROXY header from an untrusted sender refused; if it is a load balancer, add its address to proxy_protocol.trusted",
			zap.Stringer("remote", sender), zap.Int("suppressed", suppressed))
	}
}

// senderIP is the IP address of a sender, or the whole address when it
// has no port.
func senderIP(a net.Addr) string {
	s := a.String()
	if host, _, err := net.SplitHostPort(s); err == nil {
		return host
	}
	return s
}

// proxyConn reports its refusal, once.
type proxyConn struct {
	net.Conn
	l    *proxyListener
	once sync.Once
}

func (c *proxyConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if errors.Is(err, proxyproto.ErrSuperfluousProxyHeader) {
		c.once.Do(func() { c.l.refused(c.Conn.RemoteAddr()) })
	}
	return n, err
}

// ValidateTrusted reports the first entry of a ProxyListener's trusted
// list that is neither an IP address nor a CIDR range.
func ValidateTrusted(trusted []string) error {
	for i, t := range trusted {
		if _, err := proxyproto.PolicyFromRanges([]string{t}, proxyproto.USE, proxyproto.REJECT); err != nil {
			return fmt.Errorf("trusted[%d]: %q is neither an IP address nor a CIDR range", i, t)
		}
	}
	return nil
}
