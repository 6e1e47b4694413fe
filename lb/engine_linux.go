//go:build linux

package lb

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

const epollSupported = true

// maxLoops bounds the event loops of one server.
const maxLoops = 16

// engine relays passthrough connections on a few event loops instead of
// goroutines: each loop owns its connections (a relay each) and blocks in
// epoll_wait. Sockets are non-blocking and registered edge-triggered, once,
// for reading and writing; bytes move by read and write through the
// loop's buffer, and wait in a pipe taken from the loop's pool only while
// the destination does not take them, so an idle connection holds its
// two sockets and nothing else.
type engine struct {
	s     *Server
	mu    sync.Mutex
	loops []*loop
	down  bool // stop has run: no loop starts any more
	next  atomic.Uint32
	wg    sync.WaitGroup // the loops' goroutines
}

func newEngine(s *Server) *engine { return &engine{s: s} }

// start creates and runs the loops, once; later calls do nothing.
func (e *engine) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.loops != nil || e.down {
		return nil
	}
	n := min(max(runtime.GOMAXPROCS(0), 1), maxLoops)
	loops := make([]*loop, 0, n)
	for range n {
		l, err := newLoop(e)
		if err != nil {
			for _, l := range loops {
				l.closeFDs()
			}
			return fmt.Errorf("lb engine: %w", err)
		}
		loops = append(loops, l)
	}
	e.loops = loops
	for _, l := range loops {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			l.run()
		}()
	}
	return nil
}

// stop makes every loop close its connections and exit, and waits for
// them.
func (e *engine) stop() {
	e.mu.Lock()
	e.down = true
	loops := e.loops
	e.mu.Unlock()
	for _, l := range loops {
		l.mu.Lock()
		if !l.stopped {
			l.stopped = true
			l.wake()
		}
		l.mu.Unlock()
	}
	e.wg.Wait()
}

// acceptor returns the accept step for ln when it is a TCP listener: it
// accepts with accept4 straight from the listening socket, so the new
// socket never enters Go's poller, and hands it to a loop. The listener's
// own RawConn cannot wait for readability, so this waits on a duplicate
// of its socket; the listener returned, to use in ln's place, closes both.
// It returns nil for other listeners, which then take the goroutine path.
func (e *engine) acceptor(ln net.Listener) (net.Listener, func() error) {
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, nil
	}
	f, err := dupListener(tl)
	if err != nil {
		e.s.log.Warn("event-loop accept unavailable; using goroutines for this listener", zap.Error(err))
		return nil, nil
	}
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, nil
	}
	a := &acceptState{addr: ln.Addr()}
	a.try = func(fd uintptr) bool {
		a.nfd, a.err = sysAccept(int(fd), &a.raw)
		return a.err != unix.EAGAIN
	}
	accept := func() error {
		if err := raw.Read(a.try); err != nil {
			return err
		}
		if a.err != nil {
			return &net.OpError{Op: "accept", Net: "tcp", Addr: a.addr, Err: a.err}
		}
		e.startRelay(a.nfd, rawAddrPort(&a.raw))
		return nil
	}
	return &dupedListener{TCPListener: tl, dup: f}, accept
}

// acceptState is one listener's accept step's state, made once: a
// closure made per call, capturing its results, would cost allocations
// per connection.
type acceptState struct {
	addr net.Addr
	try  func(fd uintptr) bool // accept4 once; false: wait for readability
	raw  unix.RawSockaddrAny
	nfd  int
	err  error
}

// dupListener returns a duplicate of tl's socket as a pollable file, with
// TCP_NODELAY set, which accepted sockets inherit.
func dupListener(tl *net.TCPListener) (*os.File, error) {
	raw, err := tl.SyscallConn()
	if err != nil {
		return nil, err
	}
	nfd := -1
	var derr error
	err = raw.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return nil, fmt.Errorf("dup listener: %w", err)
	}
	return os.NewFile(uintptr(nfd), "listener"), nil
}

// dupedListener closes the duplicate with the listener.
type dupedListener struct {
	*net.TCPListener
	dup *os.File
}

func (d *dupedListener) Close() error {
	err := d.TCPListener.Close()
	d.dup.Close()
	return err
}

// startRelay hands an accepted socket to a loop, or closes it once the
// server no longer takes connections.
func (e *engine) startRelay(fd int, client netip.AddrPort) {
	s := e.s
	if !s.admit() {
		sysClose(fd)
		s.freeSlot()
		return
	}
	s.accepted.Add(1)
	s.active.Add(1)
	l := e.loops[int(e.next.Add(1))%len(e.loops)]
	l.submit(fd, client, time.Now())
}

// ended is the server's side of a relay's end; the loop has closed it.
func (e *engine) ended() {
	e.s.active.Add(-1)
	e.s.freeSlot()
	e.s.handlers.Done()
}

func sockaddrToTCP(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// pipe is a kernel pipe for splice; r < 0 means none.
type pipe struct{ r, w int }

var noPipe = pipe{-1, -1}

// maxFreePipes bounds the pipes a loop keeps for reuse.
const maxFreePipes = 16

func (l *loop) getPipe() (pipe, error) {
	if n := len(l.pipes); n > 0 {
		p := l.pipes[n-1]
		l.pipes = l.pipes[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return noPipe, fmt.Errorf("pipe: %w", err)
	}
	// Room for several reads. The kernel takes pages only for bytes in
	// flight; past the user's pipe quota it refuses the size (64 KiB
	// stays) or even grants two pages: copyIn spills what does not fit.
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	return pipe{fds[0], fds[1]}, nil
}

// putPipe takes back an empty pipe.
func (l *loop) putPipe(p pipe) {
	if p.r < 0 {
		return
	}
	if len(l.pipes) < maxFreePipes {
		l.pipes = append(l.pipes, p)
		return
	}
	closePipe(p)
}

func closePipe(p pipe) {
	if p.r >= 0 {
		sysClose(p.r)
		sysClose(p.w)
	}
}
