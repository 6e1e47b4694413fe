package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clock is a settable clock, safe to read from many goroutines.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Unix(1700000000, 0).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type step struct {
	advance    time.Duration
	key        string
	ok         bool
	suppressed int
}

func run(t *testing.T, l *Limiter, c *clock, steps []step) {
	t.Helper()
	for i, s := range steps {
		c.advance(s.advance)
		ok, n := l.Allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("step %d (%q, +%v): Allow = %v, %d; want %v, %d", i+1, s.key, s.advance, ok, n, s.ok, s.suppressed)
		}
	}
}

// TestPerKey: one line per key per period, the suppressed count on the
// key's next line, and at most max keys remembered (from backend).
func TestPerKey(t *testing.T) {
	c := newClock()
	run(t, New(10*time.Second, 2, c.now), c, []step{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0},  // another key has its own period
		{0, "c", false, 0}, // two recent keys already: not logged, memory stays bounded
		{10 * time.Second, "a", true, 2},
		{0, "c", true, 0},  // b is idle for a period: forgotten, c has room
		{0, "b", false, 0}, // a and c are recent: no room for b again
	})
}

// TestGlobal: one constant key is a global limit, as lb's fd-exhaustion
// line uses it: one a second, the period measured from the last line
// written, not from the last event (from lb).
func TestGlobal(t *testing.T) {
	c := newClock()
	run(t, New(time.Second, 1, c.now), c, []step{
		{0, "", true, 0},
		{10 * time.Millisecond, "", false, 0},
		{989 * time.Millisecond, "", false, 0}, // +999ms
		{time.Millisecond, "", true, 2},        // +1s
		{500 * time.Millisecond, "", false, 0}, // +1.5s
		{3500 * time.Millisecond, "", true, 1}, // +5s
	})
}

// TestMaxKeysAtLeastOne: a limiter made with no room still logs one key,
// rather than silently nothing.
func TestMaxKeysAtLeastOne(t *testing.T) {
	c := newClock()
	run(t, New(time.Second, 0, c.now), c, []step{{0, "", true, 0}, {0, "", false, 0}, {time.Second, "", true, 1}})
}

// TestConcurrent: of many simultaneous events about one key exactly one
// is logged, and the next line counts all the others (run with -race).
func TestConcurrent(t *testing.T) {
	const n = 64
	c := newClock()
	l := New(time.Second, 8, c.now)
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			if ok, _ := l.Allow("10.0.0.1"); ok {
				allowed.Add(1)
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != 1 {
		t.Fatalf("%d of %d simultaneous events logged; want 1", got, n)
	}
	c.advance(time.Second)
	if ok, s := l.Allow("10.0.0.1"); !ok || s != n-1 {
		t.Errorf("after the period: Allow = %v, %d; want true, %d", ok, s, n-1)
	}
}
