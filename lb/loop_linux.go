//go:build linux

package lb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// loop is one event loop. Its state is guarded by mu, which the loop's
// goroutine holds except while it waits for events.
type loop struct {
	e      *engine
	epfd   int
	ep     *os.File        // epfd in Go's poller: the loop parks there, not in a blocking epoll_wait
	epRaw  syscall.RawConn // ep's, to wait for readiness
	wakefd int             // eventfd: stop, or a first deadline to set

	mu      sync.Mutex // held by the loop but while it waits, and by submit
	stopped bool

	byFD     []*relay            // the relay each registered socket belongs to
	relays   map[*relay]struct{} // every relay of the loop
	ready    []*relay            // relays with more to move than one turn allows
	closing  []int               // fds to close at the end of the turn, so no number is reused within it
	pipes    []pipe              // free pipes
	addrs    map[string]unix.Sockaddr
	addrGen  *generation // the generation addrs was resolved for
	now      time.Time
	tick     time.Duration // how often deadlines are checked
	sweepAt  time.Time
	deadline time.Time // ep's read deadline now
	events   [128]unix.EpollEvent
	buf      [copyMax]byte // small reads, see copyIn
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
	// A non-blocking epoll fd in an *os.File joins Go's poller, which
	// reports it readable when our set has events: a loop waiting
	// parks its goroutine instead of holding a thread in epoll_wait.
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	raw, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(wfd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	cfg := e.s.cfg
	tick := min(cfg.DialTimeout, cfg.HalfCloseTimeout, cfg.IdleTimeout) / 4
	return &loop{
		e: e, epfd: epfd, ep: ep, epRaw: raw, wakefd: wfd,
		relays: make(map[*relay]struct{}),
		addrs:  make(map[string]unix.Sockaddr),
		tick:   min(max(tick, time.Millisecond), 250*time.Millisecond),
	}, nil
}

func (l *loop) closeFDs() {
	l.ep.Close()
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
	l.relays[r] = struct{}{}
	r.att = l.e.s.pool.newAttempt()
	r.dial(l)
	if l.deadline.IsZero() && len(l.relays) > 0 {
		// The loop is parked with no deadline: connect timeouts need
		// one. A deadline set on ep also bounds the wait already
		// blocked, with no eventfd write to wake the loop and read.
		l.sweepAt = l.now.Add(l.tick)
		l.setDeadline()
	}
}

// wake makes the loop take a turn. Callers hold mu with stopped false,
// so the eventfd is still open: the loop closes it only after setting
// stopped under mu.
func (l *loop) wake() {
	one := [8]byte{1}
	_, _ = sysWrite(l.wakefd, one[:])
}

// run is the loop's goroutine: wait for events, move bytes, check
// deadlines, until stop. It holds mu except while waiting.
func (l *loop) run() {
	defer l.closeFDs()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.now = time.Now()
	l.sweepAt = l.now.Add(l.tick)
	for {
		l.setDeadline()
		busy := len(l.ready) > 0
		l.mu.Unlock()
		n, err := l.wait(busy)
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
			}
		}
		if l.stopped {
			l.stopAll()
			return
		}
		l.runReady()
		if !l.now.Before(l.sweepAt) {
			l.sweep()
			l.sweepAt = l.now.Add(l.tick)
		}
		l.flushClosing()
	}
}

// setDeadline bounds the next wait by the next deadline check while any
// relay is open.
func (l *loop) setDeadline() {
	deadline := time.Time{}
	if len(l.relays) > 0 {
		deadline = l.sweepAt
	}
	if !deadline.Equal(l.deadline) {
		_ = l.ep.SetReadDeadline(deadline)
		l.deadline = deadline
	}
}

// wait returns the next batch of events: at once when busy (relays wait
// for their turn), else parked in Go's poller until there are events or
// the deadline.
func (l *loop) wait(busy bool) (int, error) {
	n := 0
	var werr error
	err := l.epRaw.Read(func(uintptr) bool {
		for {
			n, werr = sysEpollPoll(l.epfd, l.events[:])
			if werr != unix.EINTR {
				break
			}
		}
		return werr != nil || n > 0 || busy
	})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err == nil {
		err = werr
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
