package labtest_test

// README.md's "As a Go library" block quotes this file from "import" to the
// end; TestReadmeQuotesExample keeps the two identical.

import (
	"context"
	"testing"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

func TestSSO(t *testing.T) {
	farm := labtest.Start(t, lab.Config{}) // real KDC, 2 host processes, LB; stopped by t.Cleanup
	c := labtest.Client(t, farm, "alice")  // Kerberos login with gokrb5
	res, err := c.Get(context.Background(), farm.URL)
	if err != nil {
		t.Fatal(err) // a *krbhttp.MutualAuthError if the host's AP-REP is wrong
	}
	if res.Status != 200 || res.User != "alice@KRBFARM.LOCALHOST" || res.Mechanism != "Kerberos" {
		t.Errorf("got %d %q %q from %s; want 200 alice@KRBFARM.LOCALHOST over Kerberos", res.Status, res.User, res.Mechanism, res.Backend)
	}
}
