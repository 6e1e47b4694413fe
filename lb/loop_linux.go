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

	byFD     []*relay     // the relay each registered socket belongs to
	relays   []*relay     // every relay of the loop, each at its idx
	ready    []*relay     // relays with more to move than one turn allows
	ended    []*relay     // relays finished this turn, free for reuse after it
	free     []*relay     // relays to reuse
	closing  []int        // fds to close at the end of the turn, so no number is reused within it
	pipes    []pipe       // free pipes
	fields   [7]zap.Field // a relay's log line, see logClosed
	addrs    map[string]unix.Sockaddr
	addrGen  *generation // the generation addrs was resolved for
	now      time.Time
	tick     time.Duration // how often deadlines are checked
	sweepAt  time.Time
	deadline time.Time // ep's read deadline now
	events   [128]unix.EpollEvent
	poll     func(uintptr) bool // pollOnce, see wait
	waitN    int
	waitErr  error
	waitBusy bool
	buf      []byte // readMax bytes: every read, see copyIn
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
	l := &loop{
		e: e, epfd: epfd, ep: ep, epRaw: raw, wakefd: wfd,
		addrs: make(map[string]unix.Sockaddr),
		buf:   make([]byte, readMax),
		tick:  min(max(tick, time.Millisecond), 250*time.Millisecond),
	}
	l.poll = l.pollOnce
	return l, nil
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
func (l *loop) submit(fd int, client netip.AddrPort, start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.newRelay(fd, client, start)
	if l.stopped {
		r.finish(l, "closed", errNoBackend)
		l.flushClosing()
		return
	}
	l.now = time.Now()
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

// maxFreeRelays bounds the finished relays a loop keeps for reuse.
const maxFreeRelays = 1024

// newRelay returns a relay for the accepted socket fd, a reused one if
// the loop has one, and adds it to the loop's relays; mu is held.
func (l *loop) newRelay(fd int, client netip.AddrPort, start time.Time) *relay {
	var r *relay
	if n := len(l.free); n > 0 {
		r = l.free[n-1]
		l.free = l.free[:n-1]
	} else {
		r = new(relay)
	}
	*r = relay{fds: [2]int{fd, -1}, start: start, idx: len(l.relays)}
	r.dirs[0].p, r.dirs[1].p = noPipe, noPipe
	r.setClient(client)
	l.relays = append(l.relays, r)
	return r
}

// forget removes a finished relay from the loop's relays; it is reused
// after the turn, when no event or ready list can name it any more.
func (l *loop) forget(r *relay) {
	last := len(l.relays) - 1
	moved := l.relays[last]
	l.relays[r.idx], moved.idx = moved, r.idx
	l.relays[last] = nil
	l.relays = l.relays[:last]
	l.ended = append(l.ended, r)
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
	l.waitBusy, l.waitN, l.waitErr = busy, 0, nil
	err := l.epRaw.Read(l.poll)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return 0, nil
	}
	if err == nil {
		err = l.waitErr
	}
	return max(l.waitN, 0), err
}

// pollOnce is wait's step, made once as l.poll: a closure made per wait
// would be an allocation per turn.
func (l *loop) pollOnce(uintptr) bool {
	for {
		l.waitN, l.waitErr = sysEpollPoll(l.epfd, l.events[:])
		if l.waitErr != unix.EINTR {
			break
		}
	}
	return l.waitErr != nil || l.waitN > 0 || l.waitBusy
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

// sweep ends the relays past a deadline. It walks the relays from the
// end: a relay that finishes takes the last one's place, already seen.
func (l *loop) sweep() {
	for i := len(l.relays) - 1; i >= 0; i-- {
		if i < len(l.relays) {
			l.relays[i].checkDeadlines(l)
		}
	}
}

// stopAll ends every relay as the server closes; mu is held.
func (l *loop) stopAll() {
	l.stopped = true
	for len(l.relays) > 0 {
		l.relays[len(l.relays)-1].finish(l, "closed", nil)
	}
	l.flushClosing()
}

// flushClosing ends the turn: it closes the released sockets and makes
// the relays finished in it reusable.
func (l *loop) flushClosing() {
	for _, fd := range l.closing {
		sysClose(fd)
	}
	l.closing = l.closing[:0]
	for i, r := range l.ended {
		if len(l.free) < maxFreeRelays {
			*r = relay{}
			l.free = append(l.free, r)
		}
		l.ended[i] = nil
	}
	l.ended = l.ended[:0]
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
