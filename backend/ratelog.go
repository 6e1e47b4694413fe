package backend

import (
	"sync"
	"time"
)

// Bounds of rate-limited log lines (connections over the limit, refused
// PROXY headers): at most one line per key (a sender address) per
// rateLogEvery, for at most rateLogKeys keys at once.
const (
	rateLogEvery = 10 * time.Second
	rateLogKeys  = 4096
)

// logLimiter decides whether a rate-limited line may be written now. It
// bounds its own memory: keys idle for a whole period are forgotten, and
// when rateLogKeys keys are all recent, new keys are not logged (their
// events are still counted by the caller). Safe for concurrent use.
type logLimiter struct {
	mu    sync.Mutex
	every time.Duration
	max   int
	now   func() time.Time
	keys  map[string]*rateKey
}

type rateKey struct {
	last       time.Time // when a line was last written
	suppressed int       // events not logged since
}

func newLogLimiter(every time.Duration, max int, now func() time.Time) *logLimiter {
	return &logLimiter{every: every, max: max, now: now, keys: make(map[string]*rateKey)}
}

// allow reports whether a line about key may be written now and, if so,
// how many events about key went unlogged since its previous line.
func (l *logLimiter) allow(key string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[key]
	if k == nil {
		if !l.makeRoom(now) {
			return false, 0
		}
		k = &rateKey{last: now}
		l.keys[key] = k
		return true, 0
	}
	if now.Sub(k.last) < l.every {
		k.suppressed++
		return false, 0
	}
	n := k.suppressed
	k.last, k.suppressed = now, 0
	return true, n
}

// makeRoom forgets keys idle for a period when the map is full, and
// reports whether there is room for one more.
func (l *logLimiter) makeRoom(now time.Time) bool {
	if len(l.keys) < l.max {
		return true
	}
	for key, k := range l.keys {
		if now.Sub(k.last) >= l.every {
			delete(l.keys, key)
		}
	}
	return len(l.keys) < l.max
}
