package main

import (
	"os"
	"runtime"
	"runtime/debug"

	"github.com/krbfarm/krbfarm/lb"
)

// lbProcs is the GOMAXPROCS krbfarm lb sets for cfg, 0 to leave the
// runtime's; GOMAXPROCS in the environment wins.
//
// Relaying passthrough connections on the event loops (one per P), the
// work is the kernel's, in the loops' system calls and in softirqs on
// every CPU; a P per CPU adds little capacity but the Go scheduler's
// idle Ps spin and wake threads for every readiness. Half the CPUs (at
// least one) then: measured on 2 CPUs shared with the load (unpinned,
// wrk -c50 Connection: close), 97 to 102 µs of CPU per new connection
// with 2 Ps, 71 to 81 with 1, and as many connections a second
// (HAProxy, 2 threads: 88 to 96 µs).
//
// TLS modes, where Go does the crypto, keep a P per CPU but one, at
// least one: handshakes are CPU work that more Ps do add, but the idle
// P's spinning and wakeups cost the same as in passthrough. Measured on
// 2 CPUs shared with the load (unpinned, wrk -c50 Connection: close,
// TLS 1.3): 452 to 461 µs of CPU per handshake at 1980 to 2160 a second
// with 2 Ps, 331 to 346 µs at 2580 to 2790 a second with 1.
func lbProcs(cfg lb.Config, goos string, numCPU int, env string) int {
	switch {
	case env != "":
		return 0
	case cfg.Mode != lb.ModePassthrough:
		return max(numCPU-1, 1)
	case goos != "linux" || cfg.Engine == lb.EngineGoroutine:
		return 0
	}
	return max(numCPU/2, 1)
}

// setLBProcs applies lbProcs to the process.
func setLBProcs(cfg lb.Config) {
	if n := lbProcs(cfg, runtime.GOOS, runtime.GOMAXPROCS(0), os.Getenv("GOMAXPROCS")); n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

// tlsGCPercent is the GOGC krbfarm lb uses in TLS modes.
const tlsGCPercent = 400

// lbGCPercent is the GOGC krbfarm lb sets for cfg, 0 to leave the
// runtime's; GOGC or GOMEMLIMIT in the environment win. A TLS
// connection's handshake allocates tens of KiB (keys, hashes, records),
// garbage at once, and the live heap is small next to it, so at the
// default GOGC=100 the collector runs often for little: on 1 CPU (wrk
// -c50 Connection: close, TLS 1.3; gctrace) 67 collections and 19.5 µs
// of GC CPU per handshake with GOGC=100, 7 and 4.4 µs with 400. The
// cost: the heap may grow to 5 times the live heap instead of twice
// (peak RSS 28 MB then 41 MB at 50 connections at once; about 85 KB live
// per open TLS connection, so 10,000 open ones may take 4 GB where
// GOGC=100 takes 1.7). Passthrough allocates next to nothing per
// connection and keeps the default.
func lbGCPercent(cfg lb.Config, gogc, gomemlimit string) int {
	if gogc != "" || gomemlimit != "" || cfg.Mode == lb.ModePassthrough {
		return 0
	}
	return tlsGCPercent
}

// setLBGC applies lbGCPercent to the process.
func setLBGC(cfg lb.Config) {
	if p := lbGCPercent(cfg, os.Getenv("GOGC"), os.Getenv("GOMEMLIMIT")); p > 0 {
		debug.SetGCPercent(p)
	}
}
