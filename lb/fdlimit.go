package lb

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/internal/ratelog"
)

// Where the balancer ran out of file descriptors: the values of the op
// label of krbfarm_lb_fd_exhausted_total.
const (
	fdOpAccept = iota // accepting a client connection
	fdOpDial          // creating a backend socket for client traffic
	fdOpHealth        // creating a health check's socket
	fdOpPipe          // the epoll engine's splice pipe
	fdOps
)

var fdOpNames = [fdOps]string{"accept", "dial", "health", "pipe"}

// fdLogEvery is how often the fd-exhaustion line may be written: one line
// for the whole balancer (one key, ""), whatever the op.
const fdLogEvery = time.Second

// fdPauseMax bounds the accept pause after running out of descriptors, as
// Go's http.Server bounds its accept retry.
const fdPauseMax = time.Second

// fdGuard handles the balancer running out of file descriptors (EMFILE,
// ENFILE): that is the balancer's own limit, never a backend's fault. It
// counts each occurrence, logs the cause and the fix at most once a
// second, and asks the accept loops to pause (5 ms, doubling to 1 s while
// it goes on), as HAProxy pauses its listeners, so clients wait in the
// kernel's backlog instead of being accepted only to be closed.
type fdGuard struct {
	log       *zap.Logger
	counts    [fdOps]atomic.Uint64
	lines     *ratelog.Limiter // the Error line, one per fdLogEvery
	pauseTill atomic.Int64     // unix nanoseconds before which accepting waits
	backoff   atomic.Int64     // the last pause; doubles while exhaustion repeats
}

// newFDGuard returns an fdGuard logging to log.
func newFDGuard(log *zap.Logger) *fdGuard {
	return &fdGuard{log: log, lines: ratelog.New(fdLogEvery, 1, time.Now)}
}

// isFDExhausted reports whether err means no file descriptor was free,
// for the process (EMFILE) or the whole system (ENFILE).
func isFDExhausted(err error) bool {
	return errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
}

// exhausted records that op failed for want of a descriptor, with err
// the system's error.
func (g *fdGuard) exhausted(op int, err error) {
	g.counts[op].Add(1)
	g.pauseAccept()
	if ok, suppressed := g.lines.Allow(""); ok {
		g.log.Error(fdAdvice(err), zap.String("op", fdOpNames[op]),
			zap.Int("suppressed", suppressed), zap.Error(err))
	}
}

// pauseAccept makes the accept loops wait before their next accept: 5 ms
// the first time, twice the last pause when exhaustion comes back within
// it, up to fdPauseMax.
func (g *fdGuard) pauseAccept() {
	now := time.Now().UnixNano()
	last := time.Duration(g.backoff.Load())
	d := 5 * time.Millisecond
	if now < g.pauseTill.Load()+int64(last) {
		d = min(max(2*last, d), fdPauseMax)
	}
	g.backoff.Store(int64(d))
	g.pauseTill.Store(now + int64(d))
}

// pause is how long accepting should still wait; 0 when it need not.
func (g *fdGuard) pause() time.Duration {
	return time.Duration(max(g.pauseTill.Load()-time.Now().UnixNano(), 0))
}

// total is the count for one op, for metrics.
func (g *fdGuard) total(op int) uint64 { return g.counts[op].Load() }

// fdAdvice is the log message: the cause and what to do about it.
func fdAdvice(err error) string {
	if errors.Is(err, syscall.ENFILE) {
		return "too many open files in system: raise fs.file-max (sysctl)"
	}
	if n, ok := fdLimit(); ok {
		return fmt.Sprintf("too many open files: raise ulimit -n (now %d)", n)
	}
	return "too many open files: raise ulimit -n"
}
