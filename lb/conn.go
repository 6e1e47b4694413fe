package lb

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"go.uber.org/zap"
)

// handle serves one client connection, from accept to its one log line.
func (s *Server) handle(ctx context.Context, conn net.Conn) {
	start := time.Now()
	remote := zap.Stringer("remote", conn.RemoteAddr())
	client, err := s.clientSide(ctx, conn)
	if err != nil {
		s.log.Info("connection closed", remote, zap.String("upstream", ""),
			zap.Duration("duration", time.Since(start)),
			zap.String("close", handshakeReason(err)), zap.Error(err))
		return
	}
	if s.mode() == ModeL7Pool {
		s.handleL7(ctx, client, remote, start)
		return
	}
	up, u, err := s.pool.connect(ctx, conn.RemoteAddr(), conn.LocalAddr())
	if err != nil {
		s.logNoBackend(remote, start, err)
		return
	}
	if !s.track(up, nil) { // Close ran while we dialled
		up.Close()
		s.pool.release(u, 0, 0)
		s.logNoBackend(remote, start, err)
		return
	}
	idle := watchIdle(rawConn(client), s.cfg.IdleTimeout, func() {
		rawConn(client).Close()
		up.Close()
	})
	res := s.pipe(client, up)
	if idle.stop() {
		res.reason, res.err = "idle timeout", nil
	}
	s.untrack(up)
	s.pool.release(u, res.in, res.out)
	s.log.Info("connection closed", remote, zap.String("upstream", u.Name),
		zap.Int64("bytes_in", res.in), zap.Int64("bytes_out", res.out),
		zap.Duration("duration", time.Since(start)),
		zap.String("close", s.reason(res.reason)), zap.Error(res.err))
}

// clientSide returns the connection to proxy from: conn itself in
// passthrough mode, so the copy runs between raw TCP sockets (splice), or
// the TLS connection once its handshake is over in terminate mode.
func (s *Server) clientSide(ctx context.Context, conn net.Conn) (net.Conn, error) {
	if s.tlsConf == nil {
		return conn, nil
	}
	tc := tls.Server(conn, s.tlsConf)
	// The deadline, not only ctx, bounds the handshake: a client that
	// connects and sends nothing must not hold a slot.
	if err := conn.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout)); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return tc, nil
}

func handshakeReason(err error) string {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "handshake timeout"
	}
	return "handshake failed"
}

// logNoBackend is the connection's one line when no backend took it:
// none was left, the server closed, or the balancer had no file
// descriptor for the backend socket (its own limit, logged with the fix
// by the fdGuard).
func (s *Server) logNoBackend(remote zap.Field, start time.Time, err error) {
	dur := zap.Duration("duration", time.Since(start))
	switch {
	case s.ctx.Err() != nil:
		s.log.Info("connection closed", remote, zap.String("upstream", ""), dur, zap.String("close", "server closed"))
	case isFDExhausted(err):
		s.log.Warn("connection closed", remote, zap.String("upstream", ""), dur,
			zap.String("close", "fd exhausted"), zap.Error(err))
	default:
		s.log.Warn("connection closed", remote, zap.String("upstream", ""), dur,
			zap.String("close", "no backend"), zap.Error(err))
	}
}

// reason reports why a proxied connection ended, saying so when the
// server's Close cut it.
func (s *Server) reason(r string) string {
	if s.ctx.Err() != nil && r != "eof" {
		return "server closed"
	}
	return r
}
