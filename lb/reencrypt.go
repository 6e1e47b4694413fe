package lb

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// backendTLS is the client configuration of reencrypt mode: TLS 1.2 or
// later, certificates verified against backend_ca (or the system roots),
// ALPN http/1.1, and a session cache so reconnects to a backend resume.
func backendTLS(cfg Config) (*tls.Config, error) {
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"http/1.1"},
		ServerName:         cfg.BackendServerName,
		ClientSessionCache: tls.NewLRUClientSessionCache(1024),
	}
	if cfg.BackendCA == "" {
		return c, nil
	}
	pem, err := os.ReadFile(cfg.BackendCA)
	if err != nil {
		return nil, fmt.Errorf("backend_ca: %w", err)
	}
	c.RootCAs = x509.NewCertPool()
	if !c.RootCAs.AppendCertsFromPEM(pem) {
		return nil, errors.New("backend_ca: " + cfg.BackendCA + " holds no PEM certificate")
	}
	return c, nil
}

// reencrypt runs the TLS handshake to u over conn, bounded by the dial
// timeout as well as ctx.
func (s *Server) reencrypt(ctx context.Context, conn net.Conn, base *tls.Config, u *Upstream) (net.Conn, error) {
	c := base
	if c.ServerName == "" {
		c = base.Clone() // shares the session cache
		c.ServerName, _, _ = net.SplitHostPort(u.Addr)
	}
	tc := tls.Client(conn, c)
	_ = conn.SetDeadline(time.Now().Add(s.cfg.DialTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls to backend: %w", err)
	}
	_ = conn.SetDeadline(time.Time{})
	return tc, nil
}
