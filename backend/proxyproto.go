package backend

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/zap"
)

// proxyHeaderTimeout bounds how long a trusted sender may take to send its
// PROXY header; past it the connection counts as having sent none.
const proxyHeaderTimeout = 5 * time.Second

// ProxyProtocol says whose PROXY protocol headers (v1 or v2, as HAProxy,
// nginx and krbfarm's lb send them) the site believes. The zero value is
// off: no header is ever read, and a client that sends one gets a 400, as
// IIS would (http.sys does not speak PROXY).
//
// When Trusted is set, a connection from a trusted address may start with a
// header: the site then reports the client address it carries (responses,
// logs, events 4624/4625); a LOCAL header (a balancer's health check) keeps
// the sender's own address. A connection from any other address that sends
// a header is refused: its first read fails and it is closed without an
// answer, so no client can pose as another address.
type ProxyProtocol struct {
	// Trusted lists the load balancers' addresses: IPs ("127.0.0.1") or CIDR
	// ranges ("10.0.0.0/24"). Empty means off.
	Trusted []string `yaml:"trusted,omitempty,flow"`
	// Required: trusted senders must send a header, and a connection from a
	// trusted address without one is refused. false (default): the header is
	// optional for them, so probes from the balancer's host (a lab's own
	// health checks, an administrator's curl) still work; they are reported
	// with their own address. Untrusted senders never need one.
	Required bool `yaml:"required,omitempty"`
}

// Enabled reports whether any sender is trusted.
func (p ProxyProtocol) Enabled() bool { return len(p.Trusted) > 0 }

// validate names the first trusted entry that is neither an IP nor a CIDR.
func (p ProxyProtocol) validate() error {
	if p.Required && !p.Enabled() {
		return errors.New("proxy_protocol.required: needs proxy_protocol.trusted, the load balancers' addresses, e.g. [127.0.0.1/32]")
	}
	for i, t := range p.Trusted {
		if _, err := proxyproto.PolicyFromRanges([]string{t}, proxyproto.USE, proxyproto.REJECT); err != nil {
			return fmt.Errorf("proxy_protocol.trusted[%d] %q: neither an IP address nor a CIDR range: use e.g. 127.0.0.1 or 10.0.0.0/24 (the load balancers' addresses)", i, t)
		}
	}
	return nil
}

// wrap returns ln unchanged when p is off, else a listener that applies
// the trust policy above, reporting refusals to s. p must be valid.
func (p ProxyProtocol) wrap(ln net.Listener, s *Site) net.Listener {
	if !p.Enabled() {
		return ln
	}
	trusted := proxyproto.USE
	if p.Required {
		trusted = proxyproto.REQUIRE
	}
	return proxyWatch{site: s, Listener: &proxyproto.Listener{
		Listener:          ln,
		ConnPolicy:        proxyproto.MustPolicyFromRanges(p.Trusted, trusted, proxyproto.REJECT),
		ReadHeaderTimeout: proxyHeaderTimeout,
	}}
}

// ClientAddressHeader is the response header that names the client address
// the site saw: the PROXY header's source from a trusted balancer, else the
// TCP peer. It is what events 4624/4625 record as the source address.
const ClientAddressHeader = "X-Client-Address"

// setClientAddress writes ClientAddressHeader.
func setClientAddress(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(ClientAddressHeader, r.RemoteAddr)
}

// splitRemote splits a remote address into Windows' IpAddress and IpPort
// ("-" when unknown, as Windows writes them).
func splitRemote(remote string) (ip, port string) {
	host, p, err := net.SplitHostPort(remote)
	if err != nil || host == "" {
		return "-", "-"
	}
	return strings.TrimPrefix(host, "::ffff:"), p
}

// proxyWatch wraps the PROXY listener's connections so that a connection
// refused for its header is counted and logged (rate-limited per sender):
// go-proxyproto only fails the first read, which net/http answers by
// closing the connection in silence.
type proxyWatch struct {
	net.Listener
	site *Site
}

func (l proxyWatch) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	sender := c.RemoteAddr // the PROXY header's client: resolved on first use
	if pc, ok := c.(*proxyproto.Conn); ok {
		sender = pc.Raw().RemoteAddr
	}
	return &proxyWatchConn{Conn: c, site: l.site, sender: sender}, nil
}

type proxyWatchConn struct {
	net.Conn
	site   *Site
	sender func() net.Addr
	seen   atomic.Bool // a refusal was reported
}

func (c *proxyWatchConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if err != nil {
		if reason := proxyRefusal(err); reason != "" && !c.seen.Swap(true) {
			c.site.proxyRefused(c.sender().String(), reason)
		}
	}
	return n, err
}

// CloseWrite keeps net/http's graceful close working.
func (c *proxyWatchConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// proxyRefusal names why go-proxyproto refused a connection, or "" when
// err is not about the PROXY header (an EOF, a timeout).
func proxyRefusal(err error) string {
	switch {
	case errors.Is(err, proxyproto.ErrSuperfluousProxyHeader):
		return "PROXY header from an untrusted sender"
	case errors.Is(err, proxyproto.ErrNoProxyProtocol):
		return "no PROXY header from a trusted sender (required)"
	}
	for _, e := range []error{
		proxyproto.ErrLineMustEndWithCrlf, proxyproto.ErrCantReadProtocolVersionAndCommand,
		proxyproto.ErrCantReadAddressFamilyAndProtocol, proxyproto.ErrCantReadLength,
		proxyproto.ErrUnknownProxyProtocolVersion, proxyproto.ErrUnsupportedProtocolVersionAndCommand,
		proxyproto.ErrUnsupportedAddressFamilyAndProtocol, proxyproto.ErrInvalidLength,
		proxyproto.ErrInvalidAddress, proxyproto.ErrInvalidPortNumber,
	} {
		if errors.Is(err, e) {
			return "malformed PROXY header"
		}
	}
	return ""
}

// proxyRefused counts a connection refused for its PROXY header and logs
// it, at most once per sender address per rateLogEvery.
func (s *Site) proxyRefused(sender, reason string) {
	s.stats.proxyRefused.Add(1)
	ip, _ := splitRemote(sender)
	if ok, n := s.rateLog.Allow("proxy " + ip); ok {
		s.log.Warn("proxy header refused", zap.String("remote", sender), zap.String("reason", reason),
			zap.Strings("proxy_trusted", s.cfg.ProxyProtocol.Trusted), zap.Int("suppressed", n))
	}
}
