package lab_test

import (
	"context"
	"testing"

	"github.com/krbfarm/krbfarm/lab"
)

// BenchmarkFarmReady measures what `krbfarm up` promises: from nothing to
// the first authenticated 200 through the load balancer (realm, KDC,
// certificates, two host processes, LB, a Kerberos login and one request).
func BenchmarkFarmReady(b *testing.B) {
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		farm, err := lab.Start(ctx, lab.Config{})
		if err != nil {
			b.Fatal(err)
		}
		c, err := farm.NewClient("alice")
		if err != nil {
			b.Fatal(err)
		}
		res, err := c.Get(ctx, farm.URL)
		if err != nil || res.Status != 200 {
			b.Fatalf("first request: %+v %v", res, err)
		}
		c.Close()
		b.StopTimer()
		farm.Close()
		b.StartTimer()
	}
}
