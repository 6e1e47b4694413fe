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
)

// TestScenarios runs every runnable scenario on its own fresh farm with the
// real MIT KDC: the symptom must appear, the doctor must name the cause and
// the fix must cure it.
func TestScenarios(t *testing.T) {
	for _, sc := range scenario.All() {
		t.Run(sc.Name, func(t *testing.T) {
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
// logon right from the start: start-up accepts its 503. An LB with TCP
// checks keeps sending users there; with HTTP checks (the lab's default)
// it takes the host out of rotation and users are all served.
func TestStartWithoutBatchRight(t *testing.T) {
	for _, tt := range []struct{ health, want string }{
		{"tcp", "server1 200 x2 · server2 503 x2"},
		{"http", "server1 200 x4"},
	} {
		t.Run(tt.health, func(t *testing.T) {
			cfg := lab.Config{LB: lab.LBConfig{Health: tt.health}, Backends: []lab.BackendConfig{{Name: "server1"},
				{Name: "server2", IIS: directory.IISSettings{BatchLogonRight: directory.Bool(false)}}}}
			farm := labtest.Start(t, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if tt.health == "http" {
				waitDown(t, farm, "server2")
			}
			a := farm.Admin()
			s, err := a.SampleLB(ctx, a.FQDN, 4)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.String(); got != tt.want {
				t.Errorf("sample = %q, want %s", got, tt.want)
			}
		})
	}
}

// waitDown waits (bounded) until the farm's LB marks host down.
func waitDown(t *testing.T, farm *lab.Farm, host string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		for _, st := range farm.LB.Status() {
			if st.Name == host && !st.Healthy {
				return
			}
		}
		time.Sleep(25 * time.Millisecond) // polling the LB's state, bounded: 5s
	}
	t.Fatalf("the LB never marked %s down: %+v", host, farm.LB.Status())
}
