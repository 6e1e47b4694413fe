package lb

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// idleWatch closes a proxied connection once no byte has moved either way
// for the idle timeout. It reads the kernel's byte counters of the client
// socket (bytes received, bytes sent and acknowledged) instead of wrapping
// the connections, so the copy keeps splicing and costs nothing per byte:
// one timer per connection, firing every quarter of the timeout. The
// counters are first read at the first tick, not at the start: TCP_INFO
// cost 7 µs of a 330 µs TLS connection per request (2% of the CPU), and
// most connections end before a tick. The first reading counts as a
// change, so a connection is cut between the timeout and the timeout
// plus a tick after its last byte, as before for one that had moved a
// byte since the watch began.
type idleWatch struct {
	raw     syscall.RawConn
	timeout time.Duration
	onIdle  func()
	timer   *time.Timer
	read    bool      // the counters were read once; only the timer's goroutine touches read, last and changed
	last    uint64    // counters at the last change
	changed time.Time // when they last changed
	fired   atomic.Bool
}

// watchIdle starts watching client, the raw client socket, and calls
// onIdle once if it goes idle. It returns nil, watching nothing, when
// client is not a socket; one that gives no counters (not TCP, or not
// Linux) ends the watch at its first tick.
func watchIdle(client net.Conn, timeout time.Duration, onIdle func()) *idleWatch {
	sc, ok := client.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	w := &idleWatch{raw: raw, timeout: timeout, onIdle: onIdle, changed: time.Now()}
	w.timer = time.AfterFunc(w.tick(), w.check)
	return w
}

func (w *idleWatch) tick() time.Duration { return max(w.timeout/4, time.Millisecond) }

func (w *idleWatch) check() {
	n, ok := tcpBytes(w.raw)
	now := time.Now()
	switch {
	case !ok: // the socket is gone: the connection is ending anyway
		return
	case !w.read || n != w.last:
		w.read, w.last, w.changed = true, n, now
	case now.Sub(w.changed) >= w.timeout:
		w.fired.Store(true)
		w.onIdle()
		return
	}
	w.timer.Reset(w.tick())
}

// stop ends the watch and reports whether it had found the connection
// idle.
func (w *idleWatch) stop() bool {
	if w == nil {
		return false
	}
	w.timer.Stop()
	return w.fired.Load()
}
