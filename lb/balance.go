package lb

import (
	"hash/fnv"
	"math"
	"net"
	"sync/atomic"
)

// Balancing methods, the values of Config.Balance.
const (
	BalanceRoundRobin = "roundrobin" // in turn, in proportion to weight
	BalanceLeastConn  = "leastconn"  // fewest active connections per unit of weight
	BalanceSource     = "source"     // hash of the client's IP: the same client, the same backend
)

// newPicker returns the Picker for a Config.Balance value; "" is
// round-robin. Validate has already refused unknown names.
func newPicker(balance string) Picker {
	switch balance {
	case BalanceLeastConn:
		return &LeastConn{}
	case BalanceSource:
		return SourceHash{}
	}
	return &RoundRobin{}
}

// RoundRobin picks candidates in turn, each as often as its weight says:
// with weights 3 and 1 the sequence is a, a, a, b. It takes no lock. Its
// zero value is ready to use.
type RoundRobin struct{ next atomic.Uint64 }

// Pick implements Picker.
func (r *RoundRobin) Pick(candidates []*Upstream, _ net.Addr) *Upstream {
	n := r.next.Add(1) - 1
	total := uint64(0)
	for _, u := range candidates {
		total += uint64(u.weight())
	}
	n %= total
	for _, u := range candidates {
		w := uint64(u.weight())
		if n < w {
			return u
		}
		n -= w
	}
	return candidates[0] // not reached: n < total
}

// LeastConn picks the candidate with the fewest active connections per
// unit of weight; ties go round-robin so an idle farm still spreads. Its
// zero value is ready to use.
type LeastConn struct{ next atomic.Uint64 }

// Pick implements Picker.
func (l *LeastConn) Pick(candidates []*Upstream, _ net.Addr) *Upstream {
	start := int(l.next.Add(1) % uint64(len(candidates)))
	best := candidates[start]
	for i := 1; i < len(candidates); i++ {
		u := candidates[(start+i)%len(candidates)]
		// u.active/u.weight < best.active/best.weight, without division.
		if u.Active()*int64(best.weight()) < best.Active()*int64(u.weight()) {
			best = u
		}
	}
	return best
}

// SourceHash sends a client IP to the same backend for as long as that
// backend is a candidate: the affinity NTLM needs across connections. It
// uses weighted rendezvous hashing, so when a backend goes down only its
// clients move, and they come back when it is up again. The port is not
// hashed: a browser's parallel connections all land on one host.
type SourceHash struct{}

// Pick implements Picker.
func (SourceHash) Pick(candidates []*Upstream, client net.Addr) *Upstream {
	ip := clientIP(client)
	best, bestScore := candidates[0], math.Inf(-1)
	for _, u := range candidates {
		if s := rendezvousScore(ip, u.Name, u.weight()); s > bestScore {
			best, bestScore = u, s
		}
	}
	return best
}

func clientIP(a net.Addr) []byte {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.To16()
	}
	if a == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return []byte(a.String())
	}
	return []byte(host)
}

// rendezvousScore is -weight/ln(h) for h the hash of (ip, name) mapped to
// (0, 1): the highest score wins, and each backend wins in proportion to
// its weight.
func rendezvousScore(ip []byte, name string, weight int) float64 {
	h := fnv.New64a()
	h.Write(ip)
	h.Write([]byte{0})
	h.Write([]byte(name))
	x := mix64(h.Sum64())
	u := (float64(x>>11) + 0.5) / (1 << 53) // in (0, 1)
	return -float64(weight) / math.Log(u)
}

// mix64 is splitmix64's finaliser: FNV's high bits alone spread poorly.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}
