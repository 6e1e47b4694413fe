package main

import (
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Which side limits a rate. A balancer's rate is the balancer's figure
// only while the balancer, not the load side (wrk and the origin nginx),
// is the one out of CPU. Each round records both sides' CPU busy share:
// the CPU they spent over the run's wall time, as a fraction of the CPUs
// each may use (pinned: one CPU each; unpinned: all of them, shared).

// busyRule is the method, for the results' settings.
const busyRule = "per round, CPU spent over the run's wall time as a share of the CPUs each side may use (pinned: 1 CPU each; unpinned: every CPU, shared): the balancer's (with its children) and the load side's (wrk from its rusage, plus the origin nginx with its workers from /proc)"

// Busy is one subject's busy shares, one per round, in round order.
type Busy struct {
	Balancer []float64 `json:"balancer,omitempty"` // none for direct: no balancer
	Load     []float64 `json:"load"`               // wrk + origin nginx, with children
}

// busyShares is one run's: balancer < 0 when the subject has none.
type busyShares struct{ balancer, load float64 }

// busyShare is cpu spent over wall on ncpu CPUs, as a fraction; 0 when
// wall or ncpu is not positive.
func busyShare(cpu, wall time.Duration, ncpu int) float64 {
	if wall <= 0 || ncpu <= 0 {
		return 0
	}
	return float64(cpu) / float64(wall) / float64(ncpu)
}

// addBusy records one round's shares of subject s.
func (m *Metric) addBusy(s string, b busyShares) {
	if m.Busy == nil {
		m.Busy = map[string]*Busy{}
	}
	if m.Busy[s] == nil {
		m.Busy[s] = &Busy{}
	}
	if b.balancer >= 0 {
		m.Busy[s].Balancer = append(m.Busy[s].Balancer, b.balancer)
	}
	m.Busy[s].Load = append(m.Busy[s].Load, b.load)
}

// busyNote is "balancer busy 66%, load side busy 99%" from the medians
// of s's rounds; "" when there are none.
func (m *Metric) busyNote(s string) string {
	b := m.Busy[s]
	if b == nil || len(b.Load) == 0 {
		return ""
	}
	var parts []string
	if len(b.Balancer) > 0 {
		parts = append(parts, fmt.Sprintf("balancer busy %.0f%%", 100*median(b.Balancer)))
	}
	parts = append(parts, fmt.Sprintf("load side busy %.0f%%", 100*median(b.Load)))
	return strings.Join(parts, ", ")
}

// rusageCPU is the user + system CPU of an exited command (and its
// waited-for children); 0 when unknown.
func rusageCPU(cmd *exec.Cmd) time.Duration {
	if cmd.ProcessState == nil {
		return 0
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// busyLines are the table's busy shares, a line per metric that has them
// (results files from before busy shares have none): "- new connection
// conn/s: krbfarm 98% / 61%, HAProxy ...", balancer / load side.
func (ts tableSpec) busyLines(r *Results, cols []column) string {
	var b strings.Builder
	for _, m := range ts.metrics(r) {
		var parts []string
		for _, c := range cols {
			if bs := m.Busy[c.subject]; bs != nil && len(bs.Balancer) > 0 {
				parts = append(parts, fmt.Sprintf("%s %.0f%% / %.0f%%", c.heading, 100*median(bs.Balancer), 100*median(bs.Load)))
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "- %s: %s\n", ts.label(m), strings.Join(parts, ", "))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	of := "of one CPU each"
	if ts.layout != layoutPinned {
		of = "of all " + r.Machine["nproc"] + " CPUs, shared"
	}
	return "CPU busy share, median of the rounds, balancer / load side (wrk + origin nginx), " + of +
		": the side near 100% is the one that limits the rate; when neither is, the machine's other tenants took the CPU.\n\n" + b.String()
}
