package lab_test

import (
	"context"
	"testing"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lb"
)

// TestRequireBehindTheLB: tokenChecking Require on one host is what a
// plain doctor calls Extended Protection when the LB re-encrypts (each
// host serves its own certificate, not the one the client bound its token
// to), and healthy in passthrough (the client sees the host's own
// certificate). Before hosts had their own certificate in reencrypt, the
// lab served the LB's everywhere and hid the failure.
func TestRequireBehindTheLB(t *testing.T) {
	for _, tc := range []struct {
		mode, cause string
	}{
		{lb.ModeReencrypt, doctor.CauseEPA},
		{lb.ModePassthrough, ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := lab.Config{}
			cfg.LB.Mode = tc.mode
			farm := labtest.Start(t, cfg)
			ctx := context.Background()
			a := farm.Admin()
			err := a.SetIIS(ctx, "server1", func(s *directory.IISSettings) {
				s.ExtendedProtection.TokenChecking = backend.TokenCheckingRequire
			})
			if err != nil {
				t.Fatalf("iis server1 --tokenChecking Require: %v", err)
			}
			r, err := a.Diagnose(ctx, doctor.Options{Requests: 4})
			if err != nil {
				t.Fatalf("Diagnose: %v", err)
			}
			if r.Cause != tc.cause {
				t.Errorf("%s with Require on server1: the doctor says %q; want %q", tc.mode, r.Cause, tc.cause)
			}
		})
	}
}
