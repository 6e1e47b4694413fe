package lb

import (
	"context"
	"net"
)

// dialBackend opens a connection to u ready for proxying. client and front
// are the client connection's two ends, for the PROXY header; nil for a
// health check.
func (s *Server) dialBackend(ctx context.Context, u *Upstream, client, front net.Addr) (net.Conn, error) {
	conn, err := s.dialer.DialContext(ctx, "tcp", u.Addr)
	if err != nil {
		return nil, err
	}
	if s.proxyVersion != 0 {
		// On the raw *net.TCPConn, before anything else, so the copy
		// that follows still splices.
		if err := writeProxyHeader(conn, s.proxyVersion, client, front); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if bt := s.backendTLS.Load(); bt != nil {
		tc, err := s.reencrypt(ctx, conn, bt, u)
		if err != nil {
			conn.Close()
			return nil, err
		}
		return tc, nil
	}
	return conn, nil
}
