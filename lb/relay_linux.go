//go:build linux

package lb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// relay is one proxied connection on the event-loop engine. Side 0 is the
// client, side 1 the backend; direction d moves bytes from side d to side
// 1-d (0: client to backend, "in"; 1: backend to client, "out").
type relay struct {
	fds      [2]int  // client and backend sockets; -1 once closed or before connect
	readable [2]bool // edge-triggered readiness of each side, until EAGAIN
	writable [2]bool
	hup      [2]bool // the side reported EOF or an error: read it to the end
	fin      [2]bool // the side reported EOF without an error: its data is all queued
	eof      [2]bool // a short read after fin emptied the side: EOF is next, no read needed
	dirs     [2]direction

	client     *net.TCPAddr // &clientAddr: the relay's own, valid while it runs
	clientAddr net.TCPAddr
	clientIP   [16]byte // clientAddr.IP's bytes
	clientAP   netip.AddrPort
	att        attempt
	cands      [8]*Upstream // att's scratch: no allocation per pick
	idx        int          // position in the loop's relays
	u          *Upstream    // nil while connecting
	start      time.Time
	dialAt     time.Time // when the current connect began
	activeAt   time.Time // when bytes last moved
	halfAt     time.Time // when the first direction ended; zero before
	connecting bool
	queued     bool // on the loop's ready list
	closed     bool
}

// direction is one way of a relay.
type direction struct {
	p       pipe   // holds bytes read from the source and not yet written
	pending int    // bytes in p
	spill   []byte // bytes read after those in p that p had no room for
	n       int64  // bytes written to the destination
	done    bool   // the source sent EOF and the destination was shut down
}

// Bytes move by read(2) into the loop's buffer and write(2) on; what the
// destination does not take waits in a pipe (spliced on when it can
// take more) and, past the pipe's room, in the direction's spill. Reads
// of up to 256 KiB move bulk transfers with few calls and write large
// segments, which cost the receiving side least: measured with make
// bench's 64 MiB bodies, splicing the bytes through a pipe instead spent
// less of the balancer's CPU but more of the machine's (the client and
// the origin paid ~1.4 s per GB instead of ~0.9), and 16 to 128 KiB reads
// cost the balancer twice as much per GB.
const (
	spliceFlags = unix.SPLICE_F_NONBLOCK | unix.SPLICE_F_MOVE
	maxRounds   = 8         // moves per direction and turn, for fairness between relays
	readMax     = 256 << 10 // the loop's buffer: the most one read takes
)

// pipeSize is the pipe capacity asked for: room for several reads. A
// variable for the test of a pipe the kernel keeps small.
var pipeSize = 1 << 20

// setClient makes the relay's client address the peer accept returned.
func (r *relay) setClient(ap netip.AddrPort) {
	r.clientAP = ap
	r.clientIP = ap.Addr().As16()
	r.clientAddr = net.TCPAddr{IP: r.clientIP[:], Port: int(ap.Port())}
	r.client = &r.clientAddr
}

// remote is the log's remote field: a string, made now, as a relay is
// reused and a logger (zap's observer in tests) may keep its fields.
func (r *relay) remote() zap.Field {
	var b [64]byte
	return zap.String("remote", string(r.clientAP.AppendTo(b[:0])))
}

// dial starts connecting to the next backend, or ends the relay when
// none is left.
func (r *relay) dial(l *loop) {
	for {
		u, err := r.att.nextIn(r.cands[:0], r.client)
		if err != nil {
			r.finish(l, "no backend", err)
			return
		}
		fd, err := l.connect(u, r.att.g)
		if isFDExhausted(err) { // our limit, not u's fault
			r.att.abandon(u)
			l.e.s.fd.exhausted(fdOpDial, err)
			r.finish(l, "fd exhausted", err)
			return
		}
		if err == nil {
			if err = l.register(fd, r); err != nil {
				sysClose(fd)
			}
		}
		if err == nil {
			r.u, r.fds[1], r.connecting, r.dialAt = u, fd, true, l.now
			r.readable[1], r.writable[1] = false, false
			r.hup[1], r.fin[1], r.eof[1] = false, false, false // a failed attempt's events are not this socket's
			return
		}
		r.att.failed(u, err)
	}
}

// connectFailed gives up on the current backend and tries the next.
func (r *relay) connectFailed(l *loop, err error) {
	l.release(r.fds[1])
	r.fds[1] = -1
	u := r.u
	r.u, r.connecting = nil, false
	r.att.failed(u, err)
	r.dial(l)
}

// connected runs once the backend socket reports its connect done.
func (r *relay) connected(l *loop, events uint32) {
	if events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
		errno, err := unix.GetsockoptInt(r.fds[1], unix.SOL_SOCKET, unix.SO_ERROR)
		if err == nil && errno != 0 {
			err = unix.Errno(errno)
		}
		if err == nil {
			err = errors.New("connection closed during connect")
		}
		r.connectFailed(l, &net.OpError{Op: "dial", Net: "tcp", Err: err})
		return
	}
	r.connecting = false
	r.att.connected(r.u)
	if err := r.sendProxyHeader(l); err != nil {
		r.finish(l, "error", err)
		return
	}
	if err := l.register(r.fds[0], r); err != nil {
		r.finish(l, "error", err)
		return
	}
	r.activeAt = l.now
	r.run(l)
}

// sendProxyHeader writes the PROXY header, if configured, on the fresh
// backend socket, whose empty send buffer takes it whole.
func (r *relay) sendProxyHeader(l *loop) error {
	v := l.e.s.proxyVersion
	if v == 0 {
		return nil
	}
	var front net.Addr = &net.TCPAddr{}
	if sa, err := unix.Getsockname(r.fds[0]); err == nil {
		front = sockaddrToTCP(sa)
	}
	hdr, err := proxyproto.HeaderProxyFromAddrs(v, r.client, front).Format()
	if err != nil {
		return fmt.Errorf("write PROXY header: %w", err)
	}
	n, err := unix.Write(r.fds[1], hdr)
	if err == nil && n != len(hdr) {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(hdr))
	}
	if err != nil {
		return fmt.Errorf("write PROXY header: %w", err)
	}
	return nil
}

// onEvent records what epoll reported on fd and moves what can move.
func (r *relay) onEvent(l *loop, fd int, events uint32) {
	side := 0
	if fd == r.fds[1] {
		side = 1
	}
	if events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.readable[side] = true
	}
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.hup[side] = true
		r.fin[side] = r.fin[side] || events&unix.EPOLLERR == 0
	}
	if events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		r.writable[side] = true
	}
	if r.connecting {
		if side == 1 {
			r.connected(l, events)
		}
		return
	}
	r.run(l)
}

// run moves bytes both ways as far as the sockets allow, then ends the
// relay when both directions are done or one failed.
func (r *relay) run(l *loop) {
	more := false
	for d := range r.dirs {
		m, err := r.pump(l, d)
		if err != nil {
			if isFDExhausted(err) {
				l.e.s.fd.exhausted(fdOpPipe, err)
			}
			reason, err := classify(err)
			r.finish(l, reason, err)
			return
		}
		more = more || m
	}
	switch {
	case r.dirs[0].done && r.dirs[1].done:
		r.finish(l, "eof", nil)
	case (r.dirs[0].done || r.dirs[1].done) && l.e.s.cfg.CloseOnFirstEOF:
		r.finish(l, "eof", nil) // the close sends the FIN
	case more && !r.queued:
		r.queued = true
		l.ready = append(l.ready, r)
	}
}

// pump moves bytes in direction d: source to pipe, pipe to destination,
// until one would block. It reports whether it stopped only for
// fairness.
func (r *relay) pump(l *loop, d int) (bool, error) {
	dir := &r.dirs[d]
	dst := r.fds[1-d]
	for range maxRounds {
		if dir.pending > 0 {
			if !r.writable[1-d] {
				return false, nil
			}
			n, err := unix.Splice(dir.p.r, nil, dst, nil, dir.pending, spliceFlags)
			if errors.Is(err, unix.EAGAIN) {
				r.writable[1-d] = false
				return false, nil
			}
			if err != nil {
				return false, os.NewSyscallError("splice", err)
			}
			dir.pending -= int(n)
			dir.n += n
			r.activeAt = l.now
			continue
		}
		if len(dir.spill) > 0 { // the pipe is empty: the spill goes straight on
			if !r.writable[1-d] {
				return false, nil
			}
			n, err := sysWrite(dst, dir.spill)
			if errors.Is(err, unix.EAGAIN) {
				r.writable[1-d] = false
				return false, nil
			}
			if err != nil {
				return false, os.NewSyscallError("write", err)
			}
			dir.spill = dir.spill[n:]
			if len(dir.spill) == 0 {
				dir.spill = nil
			}
			dir.n += int64(n)
			r.activeAt = l.now
			continue
		}
		if r.eof[d] && !dir.done {
			r.endDirection(l, d)
			continue
		}
		if dir.done || !r.readable[d] {
			l.putPipe(dir.p)
			dir.p = noPipe
			return false, nil
		}
		if err := r.copyIn(l, d); err != nil {
			return false, err
		}
	}
	return true, nil
}

// copyIn reads what side d has into the loop's buffer and writes it on.
// Bytes the destination does not take go to a pipe, and what the pipe
// has no room for (its size is the kernel's to grant) to the spill.
func (r *relay) copyIn(l *loop, d int) error {
	dir := &r.dirs[d]
	n, err := sysRead(r.fds[d], l.buf)
	switch {
	case errors.Is(err, unix.EAGAIN):
		r.readable[d] = false
		return nil
	case err != nil:
		return os.NewSyscallError("read", err)
	case n == 0:
		r.endDirection(l, d)
		return nil
	}
	full := n == len(l.buf) // more may be queued: read again
	// A short read emptied the socket's queue; with edge triggering,
	// whatever arrives later brings a new event, so no read to EAGAIN
	// is needed, unless the event said EOF (or an error) is queued. An
	// EOF reported before this read came after all the data the read
	// took (the kernel reports a FIN only once the bytes before it are
	// queued): the read to 0 is skipped, as an HTTP response followed
	// by its server's close usually comes.
	switch {
	case full:
	case r.fin[d]:
		r.eof[d] = true
	case !r.hup[d]:
		r.readable[d] = false
	}
	w := 0
	if r.writable[1-d] {
		w, err = sysWrite(r.fds[1-d], l.buf[:n])
		if errors.Is(err, unix.EAGAIN) {
			w, err = 0, nil
			r.writable[1-d] = false
		}
		if err != nil {
			return os.NewSyscallError("write", err)
		}
		dir.n += int64(w)
		r.activeAt = l.now
	}
	if w == n {
		return nil
	}
	if dir.p.r < 0 {
		if dir.p, err = l.getPipe(); err != nil {
			return err
		}
	}
	// The pipe is empty. It holds what the kernel granted: a megabyte,
	// or 64 KiB (or two pages) once the user's pipe quota is spent.
	k, err := sysWrite(dir.p.w, l.buf[w:n])
	if errors.Is(err, unix.EAGAIN) {
		k, err = 0, nil
	}
	if err != nil {
		return os.NewSyscallError("pipe write", err)
	}
	dir.pending = k
	if w+k < n {
		dir.spill = append([]byte(nil), l.buf[w+k:n]...)
	}
	return nil
}

// endDirection handles EOF from side d: the other side gets a FIN, and
// the other direction may go on for HalfCloseTimeout.
func (r *relay) endDirection(l *loop, d int) {
	dir := &r.dirs[d]
	dir.done = true
	l.putPipe(dir.p)
	dir.p = noPipe
	// When the other direction is done too, the relay ends this turn and
	// the close sends the FIN: no shutdown needed. An error here (the
	// peer is already gone) shows up on the other direction.
	if !r.dirs[1-d].done && !l.e.s.cfg.CloseOnFirstEOF {
		_ = sysShutdownWrite(r.fds[1-d])
	}
	if r.halfAt.IsZero() {
		r.halfAt = l.now
	}
}

// checkDeadlines ends a relay whose connect, half-close or idle time is
// up.
func (r *relay) checkDeadlines(l *loop) {
	cfg := &l.e.s.cfg
	switch {
	case r.connecting:
		if l.now.Sub(r.dialAt) >= cfg.DialTimeout {
			r.connectFailed(l, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded})
		}
	case r.u == nil:
	case !r.halfAt.IsZero() && l.now.Sub(r.halfAt) >= cfg.HalfCloseTimeout:
		r.finish(l, "half-close timeout", nil)
	case l.now.Sub(r.activeAt) >= cfg.IdleTimeout:
		r.finish(l, "idle timeout", nil)
	}
}

// finish writes the relay's one log line and closes it. The line comes
// first: a client that sees its connection end can count on the line
// being written (a client socket not yet registered closes at once, not
// at the end of the turn).
func (r *relay) finish(l *loop, reason string, err error) {
	if r.closed {
		return
	}
	r.closed = true
	s := l.e.s
	switch {
	case r.u == nil:
		s.logNoBackend(r.remote(), r.start, err)
	case r.connecting:
		r.u.active.Add(-1)
		s.logNoBackend(r.remote(), r.start, err)
	default:
		s.pool.release(r.u, r.dirs[0].n, r.dirs[1].n)
		r.logClosed(l, reason, err)
	}
	l.forget(r)
	for i, fd := range r.fds {
		l.release(fd)
		r.fds[i] = -1
	}
	for i := range r.dirs {
		if r.dirs[i].pending > 0 {
			closePipe(r.dirs[i].p) // bytes left in it
		} else {
			l.putPipe(r.dirs[i].p)
		}
		r.dirs[i].p = noPipe
		r.dirs[i].spill = nil
	}
	l.e.ended()
}

// logClosed writes the line of a relay that reached a backend. Its fields
// go in the loop's array, not in a slice Info would allocate per line.
func (r *relay) logClosed(l *loop, reason string, err error) {
	s := l.e.s
	ce := s.log.Check(zap.InfoLevel, "connection closed")
	if ce == nil {
		return
	}
	in, out := r.dirs[0].n, r.dirs[1].n
	l.fields = [...]zap.Field{r.remote(), zap.String("upstream", r.u.Name),
		zap.Int64("bytes_in", in), zap.Int64("bytes_out", out),
		zap.Duration("duration", time.Since(r.start)),
		zap.String("close", s.reason(reason)), zap.Error(err)}
	ce.Write(l.fields[:]...)
	l.fields = [len(l.fields)]zap.Field{} // keep no error or string alive
}
