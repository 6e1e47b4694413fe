//go:build linux

package lb

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// Accepting in the loops. A loop that parked in Go's poller, with a
// goroutine accepting there too, cost a thread wake-up per batch of
// events: while one thread ran the loop, another sat in the poller's
// epoll_wait, woke for each readiness, found no free P, queued the
// goroutine and slept again (about 0.4 voluntary context switches per
// connection, and as many preemptions of the loop's thread). Now each
// loop has its own duplicate of the listening socket in its epoll set,
// level-triggered with EPOLLEXCLUSIVE (the kernel wakes one loop per
// connection, not all), accepts there, and blocks in its own epoll_wait:
// one thread sleeps and wakes, as an HAProxy or nginx worker does.
// Under max_conns, which needs an accept that waits for a slot, the
// engine keeps a goroutine accepting (see acceptor).

// acceptBatch bounds the connections one loop accepts per turn.
const acceptBatch = 64

// loopListener is a TCP listener the loops accept on; Serve waits on
// done. It holds the socket as a descriptor of its own and closes the
// *net.TCPListener it came from: that one's descriptor sits in Go's
// poller, edge-triggered, which would wake a thread for every new
// connection with no goroutine waiting for it.
type loopListener struct {
	e      *engine
	addr   net.Addr
	closed atomic.Bool   // Close ran, or accepting failed for good
	done   chan struct{} // closed with closed set
	once   sync.Once
	err    error // the error accepting failed with, set before done closes

	mu sync.Mutex
	fd int // the listening socket; -1 once closed
}

// loopListener returns ln for the loops to accept on, or nil when ln is
// not a TCP listener or max_conns is set.
func (e *engine) loopListener(ln net.Listener) *loopListener {
	tl, ok := ln.(*net.TCPListener)
	if !ok || e.s.slots != nil {
		return nil
	}
	raw, err := tl.SyscallConn()
	if err != nil {
		return nil
	}
	nfd := -1
	err = raw.Control(func(fd uintptr) {
		// Accepted sockets inherit TCP_NODELAY from the listener.
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		nfd, _ = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err != nil || nfd < 0 {
		return nil
	}
	ll := &loopListener{e: e, addr: tl.Addr(), done: make(chan struct{}), fd: nfd}
	tl.Close() // the socket lives on in nfd
	return ll
}

// Accept is never called: the loops accept.
func (ll *loopListener) Accept() (net.Conn, error) {
	<-ll.done
	return nil, net.ErrClosed
}

func (ll *loopListener) Addr() net.Addr { return ll.addr }

// Close closes the listener. Each loop closes its duplicate at its next
// turn, which it is woken for; the shutdown stops the socket listening
// now, for every duplicate, so new clients are refused from here on.
func (ll *loopListener) Close() error {
	ll.mu.Lock()
	if ll.fd >= 0 {
		_ = unix.Shutdown(ll.fd, unix.SHUT_RD)
		sysClose(ll.fd)
		ll.fd = -1
	}
	ll.mu.Unlock()
	ll.end(nil)
	return nil
}

// end stops every loop accepting on ll, with err when accepting failed.
func (ll *loopListener) end(err error) {
	ll.once.Do(func() {
		ll.err = err
		ll.closed.Store(true)
		close(ll.done)
		ll.e.wakeAll()
	})
}

// serve registers ll with every loop and waits until it is closed or
// accepting fails.
func (ll *loopListener) serve() error {
	ll.e.listen(ll)
	<-ll.done
	if ll.err != nil && !ll.e.s.stopping() {
		return fmt.Errorf("accept on %s: %w", ll.addr, ll.err)
	}
	return nil
}

// listen gives every loop its duplicate of ll's socket.
// The duplicates are made under ll.mu, and given to the loops after it,
// as Close holds the server's mu when it takes ll.mu, and a loop holds
// its own when it takes the server's.
func (e *engine) listen(ll *loopListener) {
	lns := make([]*loopLn, 0, len(e.loops))
	ll.mu.Lock()
	for range e.loops {
		if ll.fd < 0 {
			break
		}
		nfd, err := unix.FcntlInt(uintptr(ll.fd), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			ll.end(fmt.Errorf("dup listener: %w", err))
			break
		}
		lns = append(lns, &loopLn{fd: nfd, ll: ll})
	}
	ll.mu.Unlock()
	for i, ln := range lns {
		e.loops[i].addListener(ln)
	}
}

// loopLn is one loop's duplicate of a listening socket.
type loopLn struct {
	fd       int
	ll       *loopListener
	paused   bool      // out of the epoll set until resumeAt
	resumeAt time.Time // see pause
	backoff  time.Duration
}

func (l *loop) addListener(ln *loopLn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || ln.ll.closed.Load() {
		sysClose(ln.fd)
		return
	}
	if err := sysEpollAdd(l.epfd, ln.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
		sysClose(ln.fd)
		ln.ll.end(fmt.Errorf("epoll_ctl: %w", err))
		return
	}
	l.lns = append(l.lns, ln)
}

// listenerFor is the listener whose duplicate is fd, or nil.
func (l *loop) listenerFor(fd int) *loopLn {
	for _, ln := range l.lns {
		if ln.fd == fd {
			return ln
		}
	}
	return nil
}

// acceptOn accepts up to acceptBatch connections from ln and starts
// relaying each on this loop.
func (l *loop) acceptOn(ln *loopLn) {
	s := l.e.s
	for range acceptBatch {
		if ln.ll.closed.Load() || ln.paused {
			return
		}
		if d := s.fd.pause(); d > 0 {
			l.pauseListener(ln, d)
			return
		}
		fd, client, err := sysAccept(ln.fd)
		switch {
		case err == nil:
			ln.backoff = 0
			l.startRelay(fd, client)
		case err == unix.EAGAIN:
			return
		case err == unix.ECONNABORTED || err == unix.EINTR:
		case isFDExhausted(err):
			s.fd.exhausted(fdOpAccept, err)
			l.pauseListener(ln, max(s.fd.pause(), time.Millisecond))
			return
		case isTemporary(err):
			ln.backoff = min(max(2*ln.backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", zap.Duration("backoff", ln.backoff), zap.Error(err))
			l.pauseListener(ln, ln.backoff)
			return
		default:
			ln.ll.end(&net.OpError{Op: "accept", Net: "tcp", Addr: ln.ll.addr, Err: err})
			return
		}
	}
}

// startRelay begins relaying an accepted socket on this loop; mu is held.
func (l *loop) startRelay(fd int, client *net.TCPAddr) {
	s := l.e.s
	if !s.admit() {
		sysClose(fd)
		return
	}
	s.accepted.Add(1)
	s.active.Add(1)
	l.begin(newRelay(fd, client))
}

// pauseListener takes ln out of the epoll set for d: a level-triggered
// listener the loop does not accept from would wake it at once.
func (l *loop) pauseListener(ln *loopLn, d time.Duration) {
	_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
	ln.paused, ln.resumeAt = true, l.now.Add(d)
}

// tendListeners, once a turn, drops the duplicates of closed listeners
// and puts paused ones back in the epoll set when their time is up.
func (l *loop) tendListeners() {
	kept := l.lns[:0]
	for _, ln := range l.lns {
		switch {
		case ln.ll.closed.Load():
			l.dropListener(ln)
			continue
		case ln.paused && !l.now.Before(ln.resumeAt):
			ln.paused = false
			if err := sysEpollAdd(l.epfd, ln.fd, unix.EPOLLIN|unix.EPOLLEXCLUSIVE); err != nil {
				ln.ll.end(fmt.Errorf("epoll_ctl: %w", err))
				l.dropListener(ln)
				continue
			}
		}
		kept = append(kept, ln)
	}
	clear(l.lns[len(kept):])
	l.lns = kept
}

// dropListener closes this loop's duplicate of a listener.
func (l *loop) dropListener(ln *loopLn) {
	if !ln.paused {
		_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, ln.fd, nil)
	}
	sysClose(ln.fd)
}

// resumeAt is the earliest time a paused listener comes back; zero when
// none is paused.
func (l *loop) resumeAt() time.Time {
	var t time.Time
	for _, ln := range l.lns {
		if ln.paused && (t.IsZero() || ln.resumeAt.Before(t)) {
			t = ln.resumeAt
		}
	}
	return t
}
