package lab_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestScenarios runs every runnable scenario on its own fresh farm with the
// real MIT KDC: the symptom must appear, the doctor must name the cause and
// the fix must cure it.
func TestScenarios(t *testing.T) {
	for _, sc := range lab.Scenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			if sc.NotRunnable != "" {
				t.Skipf("not runnable: %s", sc.NotRunnable)
			}
			farm := labtest.Start(t, lab.Config{})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out bytes.Buffer
			res, err := sc.Run(ctx, farm.Admin(), &out, 4)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			if !res.OK() {
				t.Errorf("symptom %v, diagnosed %v, cured %v; output:\n%s", res.Symptom, res.Diagnosed, res.Cured, out.String())
			}
			if testing.Verbose() {
				t.Logf("\n%s", out.String())
			}
		})
	}
}

// TestStartWithoutBatchRight starts a farm whose second host lacks the batch
// logon right from the start: start-up accepts its 503 and the LB, whose
// health check is TCP only, keeps sending users there.
func TestStartWithoutBatchRight(t *testing.T) {
	cfg := lab.Config{Backends: []lab.BackendConfig{{Name: "server1"},
		{Name: "server2", IIS: lab.IISSettings{BatchLogonRight: lab.Bool(false)}}}}
	farm := labtest.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := farm.Admin()
	s, err := a.SampleLB(ctx, a.FQDN, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.String(); got != "server1 200 x2 · server2 503 x2" {
		t.Errorf("sample = %q, want server1 200 x2 · server2 503 x2", got)
	}
}
