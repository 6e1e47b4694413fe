package dashboard

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
)

// The hub polls the hosts' event files; each poll reads at most
// eventsPerPoll events per file. It keeps the last recentEvents events for
// a page that opens late, and drops messages to a subscriber that is
// subBuffer messages behind (its browser reconnects and resyncs).
const (
	pollInterval  = 250 * time.Millisecond
	eventsPerPoll = 10000
	recentEvents  = 200
	subBuffer     = 256
)

// message is one server-sent event.
type message struct {
	name string // SSE event name: security, log
	data []byte // JSON
}

// hostStats counts one host's events since the farm started.
type hostStats struct {
	logons    map[string]int // 4624 by package
	failures  map[string]int // 4625 by reason and status
	poolDown  int            // 5021
	lastKrb   string         // the last Kerberos error, e.g. KRB_AP_ERR_BADKEYVER
	lastKrbAt time.Time
}

// hub tails the hosts' event files and fans messages out to streams.
type hub struct {
	files  []*backend.EventTail
	mu     sync.Mutex
	subs   map[chan message]struct{}
	recent []backend.Event
	counts map[string]*hostStats
}

func newHub(hosts []lab.BackendInfo, stateDir string) *hub {
	h := &hub{subs: map[chan message]struct{}{}, counts: map[string]*hostStats{}}
	for _, b := range hosts {
		path := b.Events
		if path == "" {
			path = lab.EventsPath(stateDir, b.Name)
		}
		h.files = append(h.files, &backend.EventTail{Path: path})
	}
	return h
}

// run polls the event files until ctx ends.
func (h *hub) run(ctx context.Context) {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		h.poll()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (h *hub) poll() {
	for _, f := range h.files {
		evs, _ := f.ReadNew(eventsPerPoll) // an unreadable file has no events yet
		for _, e := range evs {
			h.add(e)
		}
	}
}

func (h *hub) add(e backend.Event) {
	b, _ := json.Marshal(e)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.count(e)
	h.recent = append(h.recent, e)
	if len(h.recent) > recentEvents {
		h.recent = h.recent[len(h.recent)-recentEvents:]
	}
	h.sendLocked(message{name: "security", data: b})
}

func (h *hub) count(e backend.Event) {
	c := h.counts[e.Host]
	if c == nil {
		c = &hostStats{logons: map[string]int{}, failures: map[string]int{}}
		h.counts[e.Host] = c
	}
	switch e.ID {
	case backend.EventLogonSuccess:
		if e.LogonType != backend.LogonTypeBatch {
			c.logons[e.Package]++
		}
	case backend.EventLogonFailure:
		c.failures[strings.TrimSpace(e.Reason+" "+e.Status)]++
		if strings.HasPrefix(e.Reason, "KRB_") {
			c.lastKrb, c.lastKrbAt = e.Reason, e.Time
		}
	case backend.EventPoolIdentity:
		c.poolDown++
	}
}

// publish sends a message to every stream.
func (h *hub) publish(name string, v any) {
	b, _ := json.Marshal(v)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sendLocked(message{name: name, data: b})
}

func (h *hub) sendLocked(m message) {
	for ch := range h.subs {
		select {
		case ch <- m:
		default: // a stream too far behind loses messages, never blocks the hub
		}
	}
}

// subscribe returns a channel of messages, primed with the recent events.
func (h *hub) subscribe() chan message {
	ch := make(chan message, subBuffer+recentEvents)
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.recent {
		b, _ := json.Marshal(e)
		ch <- message{name: "security", data: b}
	}
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

// stats copies the per-host counts.
func (h *hub) stats() map[string]hostStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]hostStats{}
	for name, c := range h.counts {
		cp := hostStats{logons: map[string]int{}, failures: map[string]int{}, poolDown: c.poolDown, lastKrb: c.lastKrb, lastKrbAt: c.lastKrbAt}
		for k, v := range c.logons {
			cp.logons[k] = v
		}
		for k, v := range c.failures {
			cp.failures[k] = v
		}
		out[name] = cp
	}
	return out
}
