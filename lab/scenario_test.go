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
			if sc.NeedsBackend != "" {
				t.Skipf("needs backend support: %s", sc.NeedsBackend)
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
