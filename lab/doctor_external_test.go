package lab_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// externalOptions describe farm as a real deployment: flags only, no state
// dir and no Admin.
func externalOptions(farm *lab.Farm) doctor.ExternalOptions {
	u := farm.Config.Users[0]
	o := doctor.ExternalOptions{URL: farm.URL, Realm: farm.Config.Realm, KDC: fmt.Sprintf("127.0.0.1:%d", farm.Realm.Port),
		User: u.Name, Password: u.Password, CAFile: farm.CAFile, Requests: 4, Connect: farm.LBAddr()}
	for _, h := range farm.Hosts {
		o.Backends = append(o.Backends, h.Addr) // plain HTTP behind the TLS-terminating LB: found by fallback
	}
	return o
}

// TestDiagnoseExternal runs the external doctor against one lab farm,
// broken and fixed through the Admin API between subtests.
func TestDiagnoseExternal(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	a := farm.Admin()
	svc, spn := farm.Config.ServiceAccount, farm.Config.SPN()
	step := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name        string
		cause       string
		break_, fix func(ctx context.Context) error
	}{
		{name: "healthy"},
		{name: "stale-keytab", cause: doctor.CauseStaleKeytab,
			break_: func(ctx context.Context) error {
				if _, err := a.ResetPassword(ctx, svc, ""); err != nil {
					return err
				}
				return a.PushKeytab(ctx, "server1", nil)
			},
			fix: func(ctx context.Context) error { return a.PushKeytab(ctx, "server2", nil) }},
		{name: "missing-spn", cause: doctor.CauseMissingSPN,
			break_: func(ctx context.Context) error { return a.DeleteSPN(ctx, spn, svc) },
			fix:    func(ctx context.Context) error { return a.SetSPN(ctx, spn, svc, true) }},
		{name: "no-batch-logon-right", cause: doctor.CauseNoBatchRight,
			break_: func(ctx context.Context) error { return a.SetIIS(ctx, "server2", batchRight(false)) },
			fix:    func(ctx context.Context) error { return a.SetIIS(ctx, "server2", batchRight(true)) }},
		{name: "clock-skew", cause: doctor.CauseClockSkew,
			break_: func(ctx context.Context) error { return a.SetClockOffset(ctx, "server2", 10*time.Minute) },
			fix:    func(ctx context.Context) error { return a.SetClockOffset(ctx, "server2", 0) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.break_ != nil {
				step(t, tt.break_(ctx))
				defer func() { step(t, tt.fix(ctx)) }()
			}
			r, err := doctor.DiagnoseExternal(ctx, externalOptions(farm))
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			r.Print(&out, "  ")
			if r.Cause != tt.cause {
				t.Errorf("cause %q, want %q:\n%s", r.Cause, tt.cause, out.String())
			}
			if !strings.Contains(out.String(), "WARN  providers") {
				t.Errorf("no NTLM-offered warning:\n%s", out.String())
			}
			if testing.Verbose() {
				t.Logf("\n%s", out.String())
			}
		})
	}
}

// TestDiagnoseExternalCouldNotRun: a wrong password, an unknown user and a
// dead KDC address stop the doctor with the cause and the fix.
func TestDiagnoseExternalCouldNotRun(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	tests := []struct {
		name   string
		change func(*doctor.ExternalOptions)
		want   string
	}{
		{"wrong password", func(o *doctor.ExternalOptions) { o.Password = "not-the-password" }, "wrong password"},
		{"unknown user", func(o *doctor.ExternalOptions) { o.User = "nobody" }, "does not know nobody@"},
		{"KDC unreachable", func(o *doctor.ExternalOptions) { o.KDC = dead }, "unreachable"},
		{"no ccache", func(o *doctor.ExternalOptions) { o.Password, o.CCache = "", t.TempDir()+"/none" }, "kinit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o := externalOptions(farm)
			tt.change(&o)
			_, err := doctor.DiagnoseExternal(ctx, o)
			var cnr *doctor.CouldNotRunError
			if !errors.As(err, &cnr) || !strings.Contains(err.Error(), tt.want) || cnr.Fix == "" {
				t.Errorf("err = %v; want a CouldNotRunError saying %q, with a fix", err, tt.want)
			}
		})
	}
}

func batchRight(on bool) func(*directory.IISSettings) {
	return func(s *directory.IISSettings) { s.BatchLogonRight = directory.Bool(on) }
}
