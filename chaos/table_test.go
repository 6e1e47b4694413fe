//go:build linux

package chaos

import (
	"fmt"
	"io"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// row is one fault's line of the chaos table.
type row struct {
	fault    string
	sent     int // requests started
	failed   int
	inWindow int // failed, and in flight during the fault's window
	outside  int // failed outside the window: must be 0
	lost     int // started but no outcome recorded: must be 0
	note     string
}

// window is when a fault could make requests fail: a request is in it
// when it started before to and ended after from. The zero window holds
// no request.
type window struct{ from, to time.Time }

func (w window) holds(r result) bool {
	return !w.to.IsZero() && r.start.Before(w.to) && r.end.After(w.from)
}

// tally counts results against the window, and reports in t the failures
// outside it.
func tally(t testing.TB, fault string, sent int64, res []result, w window) row {
	r := row{fault: fault, sent: int(sent), lost: int(sent) - len(res)}
	for _, x := range res {
		if x.ok() {
			continue
		}
		r.failed++
		if w.holds(x) {
			r.inWindow++
			continue
		}
		r.outside++
		if r.outside <= 5 {
			t.Logf("%s: failed outside the fault's window: %s (started %v after the window's start)", fault, describe(x), x.start.Sub(w.from).Round(time.Millisecond))
		}
	}
	return r
}

// check asserts what holds for every fault: no failure outside its
// window, every request accounted for.
func (r row) check(t testing.TB) {
	t.Helper()
	t.Logf("%s: sent %d, failed %d (%d in the fault's window, %d outside), lost %d; %s", r.fault, r.sent, r.failed, r.inWindow, r.outside, r.lost, r.note)
	if r.outside != 0 {
		t.Errorf("%s: %d requests failed outside the fault's window; want 0", r.fault, r.outside)
	}
	if r.lost != 0 {
		t.Errorf("%s: %d requests have no outcome; want 0", r.fault, r.lost)
	}
	if r.sent == 0 {
		t.Errorf("%s: no request was sent", r.fault)
	}
}

// table collects the rows of a run.
type table struct {
	mu   sync.Mutex
	rows []row
}

func (tb *table) add(r row) {
	tb.mu.Lock()
	tb.rows = append(tb.rows, r)
	tb.mu.Unlock()
}

func (tb *table) print(w io.Writer) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FAULT\tSENT\tFAILED\tIN WINDOW\tOUTSIDE\tLOST\tNOTE")
	for _, r := range tb.rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\n", r.fault, r.sent, r.failed, r.inWindow, r.outside, r.lost, r.note)
	}
	tw.Flush()
}
