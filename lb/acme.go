package lb

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/krbfarm/krbfarm/internal/config"
	tlsterm "github.com/krbfarm/krbfarm/tls"
)

// ACME configures certificates obtained from an ACME server (Let's
// Encrypt, or a local Pebble in tests) through autocert. Names in Hosts get
// ACME certificates; any other name gets the file certificates, if any.
type ACME struct {
	Directory   string   `yaml:"directory"`    // the server's directory URL; "" = no ACME
	Hosts       []string `yaml:"hosts"`        // names certificates may be requested for; required with directory
	Email       string   `yaml:"email"`        // account contact; "" = none
	CacheDir    string   `yaml:"cache_dir"`    // account key and certificates; "" = in memory only
	DirectoryCA string   `yaml:"directory_ca"` // PEM CA to trust for the directory's HTTPS; "" = system roots
}

func (a *ACME) validate() error {
	if a.Directory == "" {
		return nil
	}
	if len(a.Hosts) == 0 {
		return config.Errorf("acme.hosts", "at least one name is required with acme.directory")
	}
	return nil
}

// acmeManager returns the autocert manager for cfg.ACME.
func acmeManager(a ACME) (*autocert.Manager, error) {
	hc := &http.Client{Timeout: 30 * time.Second}
	if a.DirectoryCA != "" {
		pem, err := os.ReadFile(a.DirectoryCA)
		if err != nil {
			return nil, fmt.Errorf("acme.directory_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("acme.directory_ca: %s holds no PEM certificate", a.DirectoryCA)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(a.Hosts...),
		Email:      a.Email,
		Client:     &acme.Client{DirectoryURL: a.Directory, HTTPClient: hc},
	}
	if a.CacheDir != "" {
		m.Cache = autocert.DirCache(a.CacheDir)
	}
	return m, nil
}

// acmeTLS wraps the terminating configuration so names in hosts, and the
// ACME server's tls-alpn-01 challenges, are answered by m; certs (may be
// nil) answers the rest.
func acmeTLS(m *autocert.Manager, hosts []string, certs *tlsterm.Certs) *tls.Config {
	var base *tls.Config
	if certs != nil {
		base = certs.ServerConfig()
	} else {
		base = tlsterm.NewCerts().ServerConfig()
	}
	base.NextProtos = append(base.NextProtos, acme.ALPNProto)
	base.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if slices.Contains(hosts, hello.ServerName) || slices.Equal(hello.SupportedProtos, []string{acme.ALPNProto}) || certs == nil {
			return m.GetCertificate(hello)
		}
		return certs.GetCertificate(hello)
	}
	return base
}
