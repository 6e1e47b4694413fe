package lb

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// copyResult is how one direction of a proxied connection ended.
type copyResult struct {
	n         int64
	err       error // nil: the source sent EOF
	toBackend bool
}

// pipeResult is how a whole proxied connection ended.
type pipeResult struct {
	in, out int64  // bytes client to backend, backend to client
	reason  string // see closeReason
	err     error  // set only when the reason is "error"
}

// pipe proxies between client and up in both directions until both end.
// When one direction ends cleanly, proxyCopy has half-closed its
// destination, and the other direction may go on (a client that sent its
// request and shut down its write side still gets the reply) but only for
// HalfCloseTimeout, so a half-open peer cannot hold the connection forever;
// with CloseOnFirstEOF, both connections are closed at once instead.
// When one direction fails, both connections are closed at once.
func (s *Server) pipe(client, up net.Conn) pipeResult {
	done := make(chan copyResult, 2)
	go proxyCopy(done, up, client, true)
	go proxyCopy(done, client, up, false)
	first := <-done
	switch {
	case first.err == nil && !s.cfg.CloseOnFirstEOF:
		// The direction left reads from rest and writes to sink; bound
		// both so neither a silent nor a non-reading peer holds it.
		rest, sink := up, client
		if !first.toBackend {
			rest, sink = client, up
		}
		deadline := time.Now().Add(s.cfg.HalfCloseTimeout)
		_ = rest.SetReadDeadline(deadline)
		_ = sink.SetWriteDeadline(deadline)
	default:
		rawConn(client).Close()
		up.Close()
	}
	second := <-done
	res := pipeResult{in: first.n, out: second.n}
	if !first.toBackend {
		res.in, res.out = second.n, first.n
	}
	res.reason, res.err = closeReason(first, second)
	if first.err == nil && s.cfg.CloseOnFirstEOF {
		res.reason, res.err = "eof", nil // the second was cut by our close
	}
	return res
}

// proxyCopy copies src to dst until src ends; on a clean end it
// half-closes dst so the peer sees EOF too. It is a named function so
// goroutine dumps say what is running. Between two *net.TCPConn, io.Copy
// reaches TCPConn.ReadFrom, which splices in the kernel; callers must pass
// the raw connections, not wrappers, for that to happen.
func proxyCopy(done chan<- copyResult, dst, src net.Conn, toBackend bool) {
	n, err := copyConn(dst, src)
	if err == nil {
		// An error here (the peer is already gone) shows up on the other
		// direction, which the half-close deadline bounds anyway.
		_ = closeWrite(dst)
	}
	done <- copyResult{n: n, err: err, toBackend: toBackend}
}

// copyBufs holds the buffers of copies that cannot splice (a TLS side).
// io.Copy would allocate 32 KiB for each direction of each connection
// (TCPConn's ReadFrom and WriteTo fall back to it), two thirds of what a
// TLS connection per request allocated, and the garbage collector's work
// with it. A pool of buffers, as net/http keeps, is the one package-level
// state here: it holds no connection's data between uses that matters.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// copyConn copies src to dst: by io.Copy between raw TCP sockets, so the
// kernel splices, and otherwise through a pooled buffer.
func copyConn(dst, src net.Conn) (int64, error) {
	_, rawDst := dst.(*net.TCPConn)
	_, rawSrc := src.(*net.TCPConn)
	if rawDst && rawSrc {
		return io.Copy(dst, src)
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	// The wrappers hide TCPConn's ReadFrom and WriteTo, which would
	// ignore the buffer and allocate their own.
	return io.CopyBuffer(struct{ io.Writer }{dst}, struct{ io.Reader }{src}, *bp)
}

// closeWrite shuts down the write side of c: a TCP FIN, preceded by a TLS
// close_notify on a *tls.Conn (whose CloseWrite sends only the alert).
// Connections without half-close are closed.
func closeWrite(c net.Conn) error {
	if tc, ok := c.(*tls.Conn); ok {
		err := tc.CloseWrite()
		return errors.Join(err, closeWrite(tc.NetConn()))
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Close()
}

// rawConn returns the TCP connection under a TLS one, to close it without
// the TLS alert that could block on a peer that does not read.
func rawConn(c net.Conn) net.Conn {
	if tc, ok := c.(*tls.Conn); ok {
		return tc.NetConn()
	}
	return c
}

// closeReason names why a connection ended: "eof" (both sides finished),
// "half-close timeout", "reset", "timeout", "closed" or "error". Resets,
// EOF and closed connections are normal ends, not errors.
func closeReason(first, second copyResult) (string, error) {
	if first.err == nil {
		if second.err != nil && errors.Is(second.err, os.ErrDeadlineExceeded) {
			return "half-close timeout", nil
		}
		return classify(second.err)
	}
	return classify(first.err)
}

func classify(err error) (string, error) {
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof", nil
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset", nil
	case errors.Is(err, net.ErrClosed):
		return "closed", nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "timeout", nil
	}
	return "error", err
}
