//go:build !linux

package lb

import "syscall"

// tcpBytes has no counters to read outside Linux: idle_timeout is not
// enforced there.
func tcpBytes(syscall.RawConn) (uint64, bool) { return 0, false }
