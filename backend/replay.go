package backend

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// replayKey identifies one authenticator: a 16-byte hash of (client
// principal, ctime, cusec, SPN). Fixed-size and pointer-free, so the map
// holding them costs the garbage collector nothing to scan.
type replayKey [16]byte

type replayEntry struct {
	key replayKey
	exp int64 // unix nanoseconds, host clock
}

// ReplayCache remembers authenticators seen by one site. Entries expire
// after their TTL (2*MaxClockSkew) by the host clock and are pruned a few
// at a time on each insert (all of them when the cache is full). The count
// is bounded, and the cache fails closed: when it holds max unexpired
// authenticators, a new one is refused with ErrReplayCacheFull rather
// than an unexpired one forgotten, as MIT's replay cache never forgets an
// authenticator before it expires (forgetting one would open a replay
// window to whoever floods the cache). It is safe for concurrent use. The
// zero value is not usable: call NewReplayCache.
type ReplayCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	max   int
	seen  map[replayKey]int64
	queue []replayEntry // insertion order, which is expiry order
	head  int
}

// pruneBatch bounds the work one insert spends on expired entries.
const pruneBatch = 64

// NewReplayCache returns a cache holding at most max entries for ttl each.
func NewReplayCache(ttl time.Duration, max int) *ReplayCache {
	if max < 1 {
		max = 1
	}
	return &ReplayCache{ttl: ttl, max: max, seen: make(map[replayKey]int64)}
}

func makeReplayKey(client string, ctime time.Time, cusec int, spn string) replayKey {
	// One buffer hashed at once: the same bytes as before, without a
	// heap-allocated hash state.
	var stack [256]byte
	b := append(append(stack[:0], client...), 0)
	b = binary.BigEndian.AppendUint64(b, uint64(ctime.Unix()))
	b = binary.BigEndian.AppendUint64(b, uint64(cusec))
	b = append(b, spn...)
	sum := sha256.Sum256(b)
	var k replayKey
	copy(k[:], sum[:])
	return k
}

// Errors of ReplayCache.Record.
var (
	// ErrReplay: the authenticator was already seen and has not expired.
	ErrReplay = errors.New("authenticator already seen (replay)")
	// ErrReplayCacheFull: the cache holds its maximum of unexpired
	// authenticators, so a new one cannot be remembered and is refused.
	ErrReplayCacheFull = errors.New("replay cache full of unexpired authenticators")
)

// Record remembers k at time now. It returns ErrReplay when k is present
// and unexpired, and ErrReplayCacheFull, remembering nothing, when the
// cache is full of unexpired entries.
func (c *ReplayCache) Record(k replayKey, now time.Time) error {
	n := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(n, pruneBatch)
	if exp, ok := c.seen[k]; ok && exp > n {
		return ErrReplay
	}
	if len(c.seen) >= c.max {
		// Every queued entry is pruned once at most, so this stays cheap
		// over time. The queue is in expiry order while the host clock
		// moves forward.
		c.prune(n, len(c.queue))
		if len(c.seen) >= c.max {
			return ErrReplayCacheFull
		}
	}
	exp := n + int64(c.ttl)
	c.seen[k] = exp
	if len(c.queue) == cap(c.queue) && c.head >= cap(c.queue)/8 {
		// Reuse the consumed front rather than let append double the
		// queue: under steady churn a full cache would otherwise carry
		// a queue of twice its size. An eighth of the capacity keeps the
		// copying amortised to a few entries per insert.
		kept := copy(c.queue, c.queue[c.head:])
		c.queue, c.head = c.queue[:kept], 0
	}
	c.queue = append(c.queue, replayEntry{key: k, exp: exp})
	return nil
}

// Len returns the number of remembered authenticators.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// prune drops up to limit expired entries from the front of the queue.
func (c *ReplayCache) prune(now int64, limit int) {
	for i := 0; i < limit && c.head < len(c.queue); i++ {
		if c.queue[c.head].exp > now {
			break
		}
		c.evictOldest()
	}
}

// evictOldest removes the front of the queue, and its map entry unless the
// key was re-added later with a newer expiry.
func (c *ReplayCache) evictOldest() {
	if c.head >= len(c.queue) {
		clear(c.seen) // defensive: queue and map disagree
		return
	}
	e := c.queue[c.head]
	c.queue[c.head] = replayEntry{}
	c.head++
	if exp, ok := c.seen[e.key]; ok && exp == e.exp {
		delete(c.seen, e.key)
	}
	c.compact()
}

// compact reclaims the consumed front of the queue once it is half of it.
func (c *ReplayCache) compact() {
	if c.head < 1024 || c.head < len(c.queue)/2 {
		if c.head == len(c.queue) {
			c.queue, c.head = c.queue[:0], 0
		}
		return
	}
	n := copy(c.queue, c.queue[c.head:])
	c.queue, c.head = c.queue[:n], 0
}
