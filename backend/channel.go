package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"

	"go.uber.org/zap"
)

// serverTLS is a site's TLS config and the tls-server-end-point channel
// binding of the one certificate it serves.
type serverTLS struct {
	config   *tls.Config
	endPoint []byte // nil when the certificate has none and no check needs it
}

// tlsConfig loads TLSCert and TLSKey (nil, nil: the site serves plain
// HTTP). The binding is computed here, once, from the leaf the site
// serves: that is the certificate a client sees and hashes.
func (s *Site) tlsConfig() (*serverTLS, error) {
	if s.cfg.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(s.cfg.TLSCert, s.cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls_cert %s, tls_key %s: %w", s.cfg.TLSCert, s.cfg.TLSKey, err)
	}
	ep, err := leafEndPoint(cert)
	if err != nil && s.verifier.epa.Load().matchesChannel() {
		return nil, fmt.Errorf("tls_cert %s: extendedProtection needs its tls-server-end-point: %w", s.cfg.TLSCert, err)
	}
	return &serverTLS{config: &tls.Config{Certificates: []tls.Certificate{cert}}, endPoint: ep}, nil
}

// leafEndPoint returns the tls-server-end-point binding of cert's leaf.
func leafEndPoint(cert tls.Certificate) ([]byte, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("no certificate in the chain")
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	return TLSServerEndPoint(leaf)
}

// endPointKey is the context key of a server's tls-server-end-point.
type endPointKey struct{}

func withEndPoint(ctx context.Context, ep []byte) context.Context {
	return context.WithValue(ctx, endPointKey{}, ep)
}

// channelOf returns the channel r came on: this host's TLS channel when it
// terminated TLS for r, else none (plain HTTP).
func channelOf(r *http.Request) Channel {
	if r.TLS == nil {
		return Channel{}
	}
	ep, _ := r.Context().Value(endPointKey{}).([]byte)
	return Channel{EndPoint: ep}
}

// matchesChannel reports whether the policy compares bindings with the
// host's own TLS channel (tokenChecking Allow or Require, without Proxy).
func (p *bindingPolicy) matchesChannel() bool {
	return p.mode != TokenCheckingNone && p.mode != "" && p.flags&flagProxy == 0
}

// warnNoChannel logs, at start, the farm's classic Extended Protection
// trap: channel binding on a host that does not terminate TLS.
func (s *Site) warnNoChannel() {
	if s.verifier.epa.Load().matchesChannel() && s.cfg.TLSCert == "" {
		s.log.Warn("extendedProtection checks channel bindings but this host serves plain HTTP: every token bound to TLS (to a TLS-terminating load balancer) is refused; serve TLS here, or set flags Proxy with spns",
			zap.String("tokenChecking", string(s.verifier.epa.Load().mode)))
	}
}
