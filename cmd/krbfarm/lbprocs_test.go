package main

import (
	"testing"

	"github.com/krbfarm/krbfarm/lb"
)

// krbfarm lb runs its passthrough event loops on half the CPUs; TLS
// modes, the goroutine engine, other systems and an explicit GOMAXPROCS
// keep the runtime's choice.
func TestLBProcs(t *testing.T) {
	pass := lb.Config{Mode: lb.ModePassthrough}
	for _, tc := range []struct {
		name string
		cfg  lb.Config
		goos string
		cpus int
		env  string
		want int
	}{
		{"passthrough, 2 CPUs", pass, "linux", 2, "", 1},
		{"passthrough, 1 CPU", pass, "linux", 1, "", 1},
		{"passthrough, 16 CPUs", pass, "linux", 16, "", 8},
		{"passthrough, epoll", lb.Config{Mode: lb.ModePassthrough, Engine: lb.EngineEpoll}, "linux", 4, "", 2},
		{"GOMAXPROCS set", pass, "linux", 2, "2", 0},
		{"goroutine engine", lb.Config{Mode: lb.ModePassthrough, Engine: lb.EngineGoroutine}, "linux", 2, "", 0},
		{"terminate", lb.Config{Mode: lb.ModeTerminate}, "linux", 2, "", 0},
		{"default mode (terminate)", lb.Config{}, "linux", 2, "", 0},
		{"not linux", pass, "darwin", 2, "", 0},
	} {
		if got := lbProcs(tc.cfg, tc.goos, tc.cpus, tc.env); got != tc.want {
			t.Errorf("%s: lbProcs = %d; want %d", tc.name, got, tc.want)
		}
	}
}
