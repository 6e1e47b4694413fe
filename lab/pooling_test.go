package lab_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lab/scenario"
	"github.com/krbfarm/krbfarm/lb"
)

// TestL7PoolingSingleRequestFix: the hosts' own cure for the
// l7-connection-pooling scenario. With the LB still pooling, every host on
// authPersistSingleRequest re-authenticates each request, so bob without
// a token is challenged and with his token served as himself.
func TestL7PoolingSingleRequestFix(t *testing.T) {
	sc, err := scenario.Find("l7-connection-pooling")
	if err != nil {
		t.Fatal(err)
	}
	farm := labtest.Start(t, lab.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := farm.Admin()
	var out bytes.Buffer
	if err := sc.Break(ctx, a, &out); err != nil {
		t.Fatalf("break: %v\n%s", err, out.String())
	}
	if ok, err := sc.ShowSymptom(ctx, a, &out, 2); err != nil || !ok {
		t.Fatalf("symptom %v, %v; want bob served as alice\n%s", ok, err, out.String())
	}
	for _, h := range a.Hosts() {
		if err := a.SetIIS(ctx, h.Name, func(s *directory.IISSettings) { s.AuthPersistSingleRequest = true }); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.LBMode(); got != lb.ModeL7Pool {
		t.Fatalf("LB mode %q; want still %q", got, lb.ModeL7Pool)
	}
	if ok, err := sc.Verify(ctx, a, &out, 2); err != nil || !ok {
		t.Errorf("verify after authPersistSingleRequest: %v, %v\n%s", ok, err, out.String())
	}
	if testing.Verbose() {
		t.Logf("\n%s", out.String())
	}
}
