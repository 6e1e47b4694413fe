package ratelog

import (
	"sync"
	"time"
)

// Limiter decides whether a rate-limited line may be written now: at most
// one per key per period. Keys idle for a whole period are forgotten when
// room is needed, and when all its keys are recent, new keys are not
// logged. Safe for concurrent use.
type Limiter struct {
	mu    sync.Mutex
	every time.Duration
	max   int
	now   func() time.Time
	keys  map[string]*key
}

type key struct {
	last       time.Time // when a line was last written
	suppressed int       // events not logged since
}

// New returns a Limiter letting one line per key through every period,
// for at most maxKeys keys at once (at least 1), with now its clock
// (time.Now outside tests).
func New(every time.Duration, maxKeys int, now func() time.Time) *Limiter {
	return &Limiter{every: every, max: max(maxKeys, 1), now: now, keys: make(map[string]*key)}
}

// Allow reports whether a line about k may be written now and, if so,
// how many events about k went unlogged since its previous line.
func (l *Limiter) Allow(k string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[k]
	if e == nil {
		if !l.makeRoom(now) {
			return false, 0
		}
		l.keys[k] = &key{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// makeRoom forgets keys idle for a period when the map is full, and
// reports whether there is room for one more.
func (l *Limiter) makeRoom(now time.Time) bool {
	if len(l.keys) < l.max {
		return true
	}
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.every {
			delete(l.keys, k)
		}
	}
	return len(l.keys) < l.max
}
