package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/scenario"
	"github.com/krbfarm/krbfarm/lb"
)

// healthProbe is what one host answers to GET /healthz, asked directly as
// the LB's HTTP health check asks it.
type healthProbe struct {
	name   string
	status int // 0: no answer
}

// probeHealth asks every host's /healthz directly.
func (a *Admin) probeHealth(ctx context.Context) []healthProbe {
	var out []healthProbe
	for _, b := range a.Info.Backends {
		p := healthProbe{name: b.Name}
		hc, err := krbhttp.NewHTTPClient(krbhttp.Config{CAFile: a.Info.CACert, DialAddr: b.Addr, Timeout: 3 * time.Second})
		if err == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.HostURL(a.FQDN, b.Addr)+"healthz", nil)
			if resp, err := hc.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				p.status = resp.StatusCode
			}
		}
		out = append(out, p)
	}
	return out
}

// lbDownWait bounds how long a symptom waits for the LB's health checks to
// agree with what the hosts answer (a few check intervals).
const lbDownWait = 5 * time.Second

// waitLBAgrees waits, when the LB runs in this process, until it marks
// down exactly the hosts whose /healthz does not answer 200, and returns
// its status; nil when the LB is elsewhere. Polling is bounded by
// lbDownWait and ctx.
func (a *Admin) waitLBAgrees(ctx context.Context, probes []healthProbe) []lb.BackendStatus {
	if a.lbStatus == nil {
		return nil
	}
	want := map[string]bool{}
	for _, p := range probes {
		want[p.name] = p.status == http.StatusOK
	}
	ctx, cancel := context.WithTimeout(ctx, lbDownWait)
	defer cancel()
	t := time.NewTicker(labHealthInterval / 3)
	defer t.Stop()
	for {
		st := a.lbStatus()
		if lbAgrees(st, want) {
			return st
		}
		select {
		case <-ctx.Done():
			return st
		case <-t.C:
		}
	}
}

func lbAgrees(st []lb.BackendStatus, want map[string]bool) bool {
	for _, s := range st {
		if up, ok := want[s.Name]; ok && up != s.Healthy {
			return false
		}
	}
	return true
}

// Health asks every host's /healthz and, when the LB runs in this
// process, waits (bounded) until its checks agree, for scenarios.
func (a *Admin) Health(ctx context.Context) scenario.Health {
	probes := a.probeHealth(ctx)
	st := a.waitLBAgrees(ctx, probes)
	h := scenario.Health{Line: healthLine(probes, st), LB: st != nil}
	for _, p := range probes {
		if p.status != http.StatusOK {
			h.Broken = append(h.Broken, p.name)
		}
	}
	return h
}

// healthLine shows each host's /healthz answer and, when known, the LB's
// view of it, e.g. "server1 200 up · server2 503 DOWN".
func healthLine(probes []healthProbe, st []lb.BackendStatus) string {
	up := map[string]bool{}
	for _, s := range st {
		up[s.Name] = s.Healthy
	}
	var parts []string
	for _, p := range probes {
		part := fmt.Sprintf("%s %d", p.name, p.status)
		if h, ok := up[p.name]; ok && h {
			part += " up"
		} else if ok {
			part += " DOWN"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, " · ")
}

// SetLBMode switches the running LB between terminate (L4) and
// l7-pooling (the L7 failure, demonstrated) without a restart, as an ADC
// admin changes a virtual server's type, and records the new mode in
// farm.json. Other modes need the hosts to speak TLS: restart the farm.
func (f *Farm) SetLBMode(_ context.Context, mode string) error {
	if f.LB == nil {
		return errors.New("the load balancer is not running in this process")
	}
	cfg := f.lbConfig()
	cfg.Mode = mode
	if err := f.LB.Reload(cfg); err != nil {
		return fmt.Errorf("switch the load balancer to %s: %w", mode, err)
	}
	return f.updateInfo(func() { f.Config.LB.Mode = mode })
}

// SetLBMode switches the farm's LB mode (Farm.SetLBMode); it needs the LB
// in this process (Farm.Admin). Later requests (HostURL, samples) follow.
func (a *Admin) SetLBMode(ctx context.Context, mode string) error {
	if a.setLBMode == nil {
		return fmt.Errorf("the load balancer runs in another process (pid %d): restart the farm with krbfarm up --mode %s", a.Info.PID, mode)
	}
	if err := a.setLBMode(ctx, mode); err != nil {
		return err
	}
	a.Info.LB.Mode = mode
	return nil
}

// LBMode is the farm's LB mode: terminate, passthrough, reencrypt or
// l7-pooling.
func (a *Admin) LBMode() string { return a.Info.LB.Mode }
