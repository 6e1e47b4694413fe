package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// CPU time per request is what a server spends (user + system, from
// /proc/PID/stat) divided by the requests the load generator completed.
// Another tenant's load slows a server's clock, not its work per request,
// so this moves far less than throughput on a shared machine.

// treeCPU sums utime+stime of pid and its direct children (nginx's and
// Apache's workers).
func treeCPU(pid int) (time.Duration, error) {
	var total time.Duration
	for _, p := range append([]int{pid}, children(pid)...) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p))
		if err != nil {
			if p == pid {
				return 0, err
			}
			continue // a child that just exited
		}
		d, err := parseStatCPU(string(b))
		if err != nil {
			return 0, fmt.Errorf("pid %d: %w", p, err)
		}
		total += d
	}
	return total, nil
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/PID/stat line; the command name in parentheses may hold spaces.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("stat %q: no command name", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name; want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: utime %q stime %q", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / time.Duration(clkTck()), nil
}

// clkTck is the kernel's USER_HZ (getconf CLK_TCK), 100 when unknown.
var clkTck = sync.OnceValue(func() int64 {
	n, err := strconv.ParseInt(firstLine(command("getconf", "CLK_TCK")), 10, 64)
	if err != nil || n <= 0 {
		return 100
	}
	return n
})

// cpuMeter measures the CPU a set of servers spends over a window: the
// sum of treeCPU over its PIDs.
type cpuMeter struct {
	pids  []int
	start time.Duration
	err   error
}

func startCPU(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids}
	m.start, m.err = sumCPU(pids)
	return m
}

// used is the CPU spent since startCPU.
func (m *cpuMeter) used() (time.Duration, error) {
	if m.err != nil {
		return 0, m.err
	}
	end, err := sumCPU(m.pids)
	if err != nil {
		return 0, err
	}
	return end - m.start, nil
}

// sumCPU is treeCPU summed over pids.
func sumCPU(pids []int) (time.Duration, error) {
	var total time.Duration
	for _, p := range pids {
		d, err := treeCPU(p)
		if err != nil {
			return 0, err
		}
		total += d
	}
	return total, nil
}

// perOp is d in µs divided by ops; 0 when no operation completed.
func perOp(d time.Duration, ops float64) float64 {
	if ops <= 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / ops
}
