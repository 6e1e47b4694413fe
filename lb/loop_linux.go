//go:build linux

package lb

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// loop is one event loop. Its state is guarded by mu, which the loop's
// goroutine holds except while it waits for events.
type loop struct {
	e      *engine
	epfd   int // the loop blocks in epoll_wait on it
	wakefd int // eventfd: stop, a listener closed, or a first deadline to set

	mu      sync.Mutex // held by the loop but while it waits, and by submit
	stopped bool

	byFD    []*relay            // the relay each registered socket belongs to
	relays  map[*relay]struct{} // every relay of the loop
	ready   []*relay            // relays with more to move than one turn allows
	closing []int               // fds to close at the end of the turn, so no number is reused within it
	pipes   []pipe              // free pipes
	addrs   map[string]unix.Sockaddr
	addrGen *generation // the generation addrs was resolved for
	lns     []*loopLn   // the listeners this loop accepts on
	now     time.Time
	tick    time.Duration // how often deadlines are checked
	sweepAt time.Time
	forever bool // the loop waits with no timeout: a new relay must wake it
	events  [128]unix.EpollEvent
	buf     [copyMax]byte // small reads, see copyIn
}

func newLoop(e *engine) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	cfg := e.s.cfg
	tick := min(cfg.DialTimeout, cfg.HalfCloseTimeout, cfg.IdleTimeout) / 4
	return &loop{
		e: e, epfd: epfd, wakefd: wfd,
		relays: make(map[*relay]struct{}),
		addrs:  make(map[string]unix.Sockaddr),
		tick:   min(max(tick, time.Millisecond), 250*time.Millisecond),
	}, nil
}

// closeFDs closes the loop's descriptors once its goroutine has exited.
func (l *loop) closeFDs() {
	for _, ln := range l.lns {
		sysClose(ln.fd)
	}
	l.lns = nil
	unix.Close(l.epfd)
	unix.Close(l.wakefd)
	for _, p := range l.pipes {
		closePipe(p)
	}
	l.pipes = nil
}

// submit starts a new relay on the loop: its backend connect begins here,
// on the accepting goroutine, under mu, so no wake-up is needed. After
// stop, it ends the relay at once instead.
func (l *loop) submit(r *relay) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		sysClose(r.fds[0])
		l.e.s.logNoBackend(r.remote(), r.start, errNoBackend)
		l.e.ended()
		return
	}
	l.now = time.Now()
	l.begin(r)
	if l.forever && len(l.relays) > 0 {
		l.forever = false
		l.wake() // the loop waits with no timeout: connect timeouts need one
	}
}

// begin starts a new relay's backend connect; mu is held.
func (l *loop) begin(r *relay) {
	l.relays[r] = struct{}{}
	r.att = l.e.s.pool.newAttempt()
	r.dial(l)
}

// wake makes the loop take a turn. The eventfd stays open until the
// engine's stop has seen the loop exit.
func (l *loop) wake() {
	one := [8]byte{1}
	_, _ = sysWrite(l.wakefd, one[:])
}

// run is the loop's goroutine: wait for events, move bytes, check
// deadlines, until stop. It holds mu except while waiting.
func (l *loop) run() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = time.Now()
	l.sweepAt = l.now.Add(l.tick)
	for {
		timeout := l.timeout()
		l.mu.Unlock()
		n, err := l.wait(timeout)
		l.mu.Lock()
		if err != nil {
			l.e.s.log.Error("epoll_wait failed; closing the loop's connections", zap.Error(err))
			l.stopAll()
			return
		}
		l.now = time.Now()
		for _, ev := range l.events[:n] {
			fd := int(ev.Fd)
			if fd == l.wakefd {
				var buf [8]byte
				_, _ = sysRead(l.wakefd, buf[:])
				continue
			}
			if fd < len(l.byFD) && l.byFD[fd] != nil {
				l.byFD[fd].onEvent(l, fd, ev.Events)
			} else if ln := l.listenerFor(fd); ln != nil {
				l.acceptOn(ln)
			}
		}
		if l.stopped {
			l.stopAll()
			return
		}
		l.tendListeners()
		l.runReady()
		if !l.now.Before(l.sweepAt) {
			l.sweep()
			l.sweepAt = l.now.Add(l.tick)
		}
		l.flushClosing()
	}
}

// timeout is the next wait's bound in milliseconds, -1 for none: none
// when relays wait for their turn, else the next deadline check while
// any relay is open, or a paused listener's return.
func (l *loop) timeout() int {
	if len(l.ready) > 0 {
		return 0
	}
	var until time.Time
	if len(l.relays) > 0 {
		until = l.sweepAt
	}
	if t := l.resumeAt(); !t.IsZero() && (until.IsZero() || t.Before(until)) {
		until = t
	}
	l.forever = until.IsZero()
	if l.forever {
		return -1
	}
	d := until.Sub(time.Now())
	return int(max((d+time.Millisecond-1)/time.Millisecond, 0))
}

// wait returns the next batch of events, waiting up to timeout ms (-1:
// until there are some). The blocking epoll_wait goes through the
// runtime's entersyscall, so the loop's P serves other goroutines
// meanwhile; a wait with nothing to wait for is a raw call.
func (l *loop) wait(timeout int) (int, error) {
	var n int
	var err error
	if timeout == 0 {
		n, err = sysEpollPoll(l.epfd, l.events[:])
	} else {
		n, err = unix.EpollWait(l.epfd, l.events[:], timeout)
	}
	if err == unix.EINTR {
		return 0, nil
	}
	return max(n, 0), err
}

func (l *loop) runReady() {
	ready := l.ready
	l.ready = nil
	for _, r := range ready {
		r.queued = false
		if !r.closed {
			r.run(l)
		}
	}
}

// sweep ends the relays past a deadline.
func (l *loop) sweep() {
	for r := range l.relays {
		r.checkDeadlines(l)
	}
}

// stopAll ends every relay as the server closes; mu is held.
func (l *loop) stopAll() {
	l.stopped = true
	for r := range l.relays {
		r.finish(l, "closed", nil)
	}
	l.flushClosing()
	for _, ln := range l.lns {
		l.dropListener(ln)
	}
	l.lns = nil
}

func (l *loop) flushClosing() {
	for _, fd := range l.closing {
		sysClose(fd)
	}
	l.closing = l.closing[:0]
}

// register adds fd to the loop's epoll set, edge-triggered, for r.
func (l *loop) register(fd int, r *relay) error {
	if fd >= len(l.byFD) {
		grown := make([]*relay, max(2*len(l.byFD), fd+1, 1024))
		copy(grown, l.byFD)
		l.byFD = grown
	}
	l.byFD[fd] = r
	if err := sysEpollAdd(l.epfd, fd, unix.EPOLLIN|unix.EPOLLOUT|unix.EPOLLRDHUP|unix.EPOLLET); err != nil {
		l.byFD[fd] = nil
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// release forgets fd and closes it at the end of the turn (closing a
// socket removes it from the epoll set).
func (l *loop) release(fd int) {
	if fd < 0 {
		return
	}
	if fd >= len(l.byFD) || l.byFD[fd] == nil {
		sysClose(fd) // never registered: no event of a batch can name it
		return
	}
	l.byFD[fd] = nil
	l.closing = append(l.closing, fd)
}

// connect starts a non-blocking connect to u; completion comes as an
// EPOLLOUT (or EPOLLERR) edge on the returned socket.
func (l *loop) connect(u *Upstream, g *generation) (int, error) {
	sa, err := l.sockaddr(u.Addr, g)
	if err != nil {
		return -1, err
	}
	family := unix.AF_INET
	if _, ok := sa.(*unix.SockaddrInet6); ok {
		family = unix.AF_INET6
	}
	fd, err := sysSocket(family)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	if err := sysConnect(fd, sa); err != nil && err != unix.EINPROGRESS {
		sysClose(fd)
		return -1, &net.OpError{Op: "dial", Net: "tcp", Err: err}
	}
	return fd, nil
}

// sockaddr resolves a backend address, caching it for the generation: a
// Reload resolves names again.
func (l *loop) sockaddr(addr string, g *generation) (unix.Sockaddr, error) {
	if g != l.addrGen {
		clear(l.addrs)
		l.addrGen = g
	}
	if sa, ok := l.addrs[addr]; ok {
		return sa, nil
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		// A name: resolved here, blocking this loop once per
		// generation.
		ta, rerr := net.ResolveTCPAddr("tcp", addr)
		if rerr != nil {
			return nil, rerr
		}
		ap = ta.AddrPort()
	}
	var sa unix.Sockaddr
	if a := ap.Addr().Unmap(); a.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	l.addrs[addr] = sa
	return sa, nil
}
