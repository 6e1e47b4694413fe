package main

import (
	"testing"

	"github.com/krbfarm/krbfarm/lb"
)

// krbfarm lb runs its passthrough event loops on half the CPUs and TLS
// modes on all but one, at least one each; the passthrough goroutine
// engine, passthrough off Linux and an explicit GOMAXPROCS keep the
// runtime's choice.
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
		{"terminate, 2 CPUs", lb.Config{Mode: lb.ModeTerminate}, "linux", 2, "", 1},
		{"terminate, 1 CPU", lb.Config{Mode: lb.ModeTerminate}, "linux", 1, "", 1},
		{"terminate, 16 CPUs", lb.Config{Mode: lb.ModeTerminate}, "linux", 16, "", 15},
		{"default mode (terminate)", lb.Config{}, "linux", 2, "", 1},
		{"reencrypt", lb.Config{Mode: lb.ModeReencrypt}, "linux", 4, "", 3},
		{"terminate, not linux", lb.Config{Mode: lb.ModeTerminate}, "darwin", 4, "", 3},
		{"terminate, GOMAXPROCS set", lb.Config{Mode: lb.ModeTerminate}, "linux", 2, "2", 0},
		{"passthrough, not linux", pass, "darwin", 2, "", 0},
	} {
		if got := lbProcs(tc.cfg, tc.goos, tc.cpus, tc.env); got != tc.want {
			t.Errorf("%s: lbProcs = %d; want %d", tc.name, got, tc.want)
		}
	}
}

// krbfarm lb collects garbage less often in TLS modes, unless the
// environment says how (GOGC or GOMEMLIMIT); passthrough keeps the
// default.
func TestLBGCPercent(t *testing.T) {
	for _, tc := range []struct {
		name             string
		cfg              lb.Config
		gogc, gomemlimit string
		want             int
	}{
		{"terminate", lb.Config{Mode: lb.ModeTerminate}, "", "", tlsGCPercent},
		{"default mode (terminate)", lb.Config{}, "", "", tlsGCPercent},
		{"reencrypt", lb.Config{Mode: lb.ModeReencrypt}, "", "", tlsGCPercent},
		{"l7-pooling", lb.Config{Mode: lb.ModeL7Pool}, "", "", tlsGCPercent},
		{"passthrough", lb.Config{Mode: lb.ModePassthrough}, "", "", 0},
		{"GOGC set", lb.Config{Mode: lb.ModeTerminate}, "100", "", 0},
		{"GOGC off", lb.Config{Mode: lb.ModeTerminate}, "off", "", 0},
		{"GOMEMLIMIT set", lb.Config{Mode: lb.ModeTerminate}, "", "1GiB", 0},
	} {
		if got := lbGCPercent(tc.cfg, tc.gogc, tc.gomemlimit); got != tc.want {
			t.Errorf("%s: lbGCPercent = %d; want %d", tc.name, got, tc.want)
		}
	}
}
