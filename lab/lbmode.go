package lab

import (
	"context"
	"errors"
	"fmt"
)

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
	f.Config.LB.Mode = mode
	return f.writeInfo()
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
