package lb

import (
	"context"
	"os"
	"time"

	"go.uber.org/zap"
)

// DefaultCertReloadInterval is how often, by default, the certificate
// files' modification times are compared.
const DefaultCertReloadInterval = 10 * time.Second

// watchCerts reloads the terminating certificates when one of their files
// changes, until ctx ends. A renewal writes key and certificate one after
// the other: a pair that does not load yet is retried at the next tick,
// and until then the running certificates stay.
func (s *Server) watchCerts(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	last := s.certStamp()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.certStamp()
		if now == last {
			continue
		}
		if err := s.reloadCerts(); err != nil {
			s.log.Warn("certificate files changed but do not load; keeping the running ones", zap.Error(err))
			continue
		}
		last = now
		s.log.Info("certificates reloaded", zap.String("why", "files changed"))
	}
}

// certStamp sums up the current certificate files' sizes and times.
func (s *Server) certStamp() string {
	s.reloadMu.Lock()
	files := s.certFiles
	s.reloadMu.Unlock()
	var stamp []byte
	for _, p := range files {
		for _, f := range []string{p.CertFile, p.KeyFile} {
			if fi, err := os.Stat(f); err == nil {
				stamp = fi.ModTime().AppendFormat(stamp, time.RFC3339Nano)
				stamp = append(stamp, byte(fi.Size()), '|')
			}
		}
	}
	return string(stamp)
}

// reloadCerts re-reads the current certificate files into s.certs.
func (s *Server) reloadCerts() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	pairs, err := loadFiles(s.certFiles)
	if err != nil {
		return err
	}
	s.certs.Set(pairs...)
	return nil
}
