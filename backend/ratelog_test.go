package backend

import (
	"testing"
	"time"
)

func TestLogLimiter(t *testing.T) {
	now := time.Unix(1700000000, 0)
	l := newLogLimiter(10*time.Second, 2, func() time.Time { return now })
	type step struct {
		advance    time.Duration
		key        string
		ok         bool
		suppressed int
	}
	steps := []step{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0},
		{0, "c", false, 0}, // two recent keys already: not logged, memory stays bounded
		{10 * time.Second, "a", true, 2},
		{0, "c", true, 0}, // b is idle for a period: forgotten, c has room
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := l.allow(s.key)
		if ok != s.ok || n != s.suppressed {
			t.Errorf("step %d (%s): allow = %v, %d; want %v, %d", i+1, s.key, ok, n, s.ok, s.suppressed)
		}
	}
}
