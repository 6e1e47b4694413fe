package tlsterm

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
)

// LoadKeyPair reads a PEM certificate chain and its private key. Unlike
// tls.LoadX509KeyPair, its errors say which file is missing or wrong.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load key pair %s, %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// ServerConfig returns the configuration a terminating server uses:
// TLS 1.2 or later, ALPN "http/1.1", session tickets on, and certs chosen
// per connection by a Certs (see Certs.GetCertificate).
func ServerConfig(certs ...tls.Certificate) *tls.Config {
	return NewCerts(certs...).ServerConfig()
}

// Certs is the set of certificates a server presents. It picks one per
// handshake from the client's SNI name and capabilities, and can be
// replaced while the server runs (Set), so a reload needs no restart.
// It is safe for concurrent use.
type Certs struct {
	mu    sync.RWMutex
	certs []tls.Certificate
}

// NewCerts returns a Certs holding certs; the first is the default one.
func NewCerts(certs ...tls.Certificate) *Certs {
	c := &Certs{}
	c.Set(certs...)
	return c
}

// Set replaces the certificates; handshakes already running keep the one
// they chose.
func (c *Certs) Set(certs ...tls.Certificate) {
	certs = append([]tls.Certificate(nil), certs...)
	c.mu.Lock()
	c.certs = certs
	c.mu.Unlock()
}

// GetCertificate implements tls.Config.GetCertificate: the first
// certificate that fits the ClientHello (its SNI name, signature schemes and
// versions), or the first certificate when none fits, so a client without
// SNI (a bare IP) still gets one and a name mismatch is its to report.
func (c *Certs) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.certs) == 0 {
		return nil, errors.New("tlsterm: no certificate configured")
	}
	for i := range c.certs {
		if hello.SupportsCertificate(&c.certs[i]) == nil {
			return &c.certs[i], nil
		}
	}
	return &c.certs[0], nil
}

// ServerConfig returns a server configuration backed by c; see the
// package-level ServerConfig.
func (c *Certs) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"http/1.1"},
		GetCertificate: c.GetCertificate,
		// Session tickets are on unless disabled; said here so nobody
		// turns them off by accident: resumption halves handshake cost.
		SessionTicketsDisabled: false,
	}
}
