package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	tlsterm "github.com/krbfarm/krbfarm/tls"
	"go.uber.org/zap"
)

// Shutdown drains the server: it stops accepting at once, lets the
// connections in flight finish, and then closes the server as Close does.
// If ctx ends first, the connections still open are cut and Shutdown
// returns ctx's error. Serve calls return nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.draining && !s.closed {
		s.draining = true
		close(s.stopAccept)
		for ln := range s.listeners {
			ln.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return s.Close()
	case <-ctx.Done():
		s.Close()
		return fmt.Errorf("lb shutdown: connections cut: %w", ctx.Err())
	}
}

// DrainTimeout is the configured drain_timeout, default resolved: how long
// a caller's Shutdown should wait.
func (s *Server) DrainTimeout() time.Duration { return s.cfg.DrainTimeout }

// stopping reports whether Shutdown or Close has begun.
func (s *Server) stopping() bool {
	select {
	case <-s.stopAccept:
		return true
	default:
		return s.ctx.Err() != nil
	}
}

// Reload applies a new configuration without dropping any established
// connection: backends (added, removed, re-weighted, max_conns), balance,
// health, mode between terminate and l7-pooling, in terminate and
// reencrypt modes the certificates, re-read from
// their files (only when New loaded them itself, not when it was given a
// *tls.Config), and in reencrypt mode backend_ca.
// A backend kept under the same name and address keeps its health and
// counters; connections to a removed backend run on until they end. Any
// other field that differs is an error naming it, and nothing is applied.
func (s *Server) Reload(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("lb reload: %w", err)
	}
	cfg = cfg.withDefaults()
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if err := s.switchMode(cfg.Mode); err != nil {
		return fmt.Errorf("lb reload: %w", err)
	}
	if field := fixedFieldChanged(s.cfg, withMode(cfg, s.cfg.Mode)); field != "" {
		return fmt.Errorf("lb reload: %s: cannot change without a restart", field)
	}
	// Load everything first: a wrong file changes nothing.
	var pairs []tls.Certificate
	if s.certs != nil {
		var err error
		if pairs, err = loadFiles(certFiles(cfg)); err != nil {
			return fmt.Errorf("lb reload: %w", err)
		}
	}
	var bt *tls.Config
	if s.cfg.Mode == ModeReencrypt {
		var err error
		if bt, err = backendTLS(cfg); err != nil {
			return fmt.Errorf("lb reload: %w", err)
		}
	}
	if s.certs != nil {
		s.certs.Set(pairs...)
		s.certFiles = certFiles(cfg)
	}
	if bt != nil {
		s.backendTLS.Store(bt)
	}
	s.pool.swap(newGeneration(cfg, s.pool.gen.Load()))
	s.setMode(cfg.Mode)
	s.log.Info("configuration reloaded", zap.Int("backends", len(cfg.Backends)), zap.String("balance", cfg.Balance))
	return nil
}

// withMode is c with Mode m: Reload checks mode with switchMode.
func withMode(c Config, m string) Config {
	c.Mode = m
	return c
}

// reloadable names the yaml fields Reload may change (and mode, between
// terminate and l7-pooling: see switchMode).
var reloadable = map[string]bool{
	"backends": true, "balance": true, "health": true,
	"cert": true, "key": true, "certificates": true, "backend_ca": true,
}

// fixedFieldChanged returns the yaml name of the first field outside
// reloadable that differs between a and b, or "".
func fixedFieldChanged(a, b Config) string {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	for i := range va.NumField() {
		name, _, _ := strings.Cut(va.Type().Field(i).Tag.Get("yaml"), ",")
		if reloadable[name] {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return name
		}
	}
	return ""
}

// loadTLS builds the terminating configuration from cfg's certificate
// files; the Certs it returns is what Reload refreshes.
func loadTLS(cfg Config) (*tls.Config, *tlsterm.Certs, error) {
	if cfg.ACME.Directory != "" {
		return loadACME(cfg)
	}
	if cfg.CertFile == "" && len(cfg.Certificates) == 0 {
		return nil, nil, errors.New("lb config: terminate mode needs a certificate: set cert and key, pass a *tls.Config, or use mode passthrough")
	}
	pairs, err := loadFiles(certFiles(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("lb config: %w", err)
	}
	certs := tlsterm.NewCerts(pairs...)
	return certs.ServerConfig(), certs, nil
}

// certFiles lists cert/key, then each of certificates, in that order: the
// first is the default for clients whose SNI matches none.
func certFiles(cfg Config) []KeyPair {
	files := append([]KeyPair(nil), cfg.Certificates...)
	if cfg.CertFile != "" {
		files = append([]KeyPair{{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}}, files...)
	}
	return files
}

func loadFiles(files []KeyPair) ([]tls.Certificate, error) {
	var out []tls.Certificate
	for _, f := range files {
		c, err := tlsterm.LoadKeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// loadACME is loadTLS with ACME: file certificates, if any, still serve
// the names ACME does not cover.
func loadACME(cfg Config) (*tls.Config, *tlsterm.Certs, error) {
	m, err := acmeManager(cfg.ACME)
	if err != nil {
		return nil, nil, fmt.Errorf("lb config: %w", err)
	}
	var certs *tlsterm.Certs
	if files := certFiles(cfg); len(files) > 0 {
		pairs, err := loadFiles(files)
		if err != nil {
			return nil, nil, fmt.Errorf("lb config: %w", err)
		}
		certs = tlsterm.NewCerts(pairs...)
	}
	return acmeTLS(m, cfg.ACME.Hosts, certs), certs, nil
}
