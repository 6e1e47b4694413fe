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
	return conn, nil
}
