package lab_test

import (
	"context"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestResetUserPasswordKeepsNTLM: after a user's password reset, the KDC
// and every host's ntlm_users follow: Kerberos logs in with the new
// password, and NTLM (here the fallback when the SPN is missing) accepts it.
func TestResetUserPasswordKeepsNTLM(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := farm.Admin()
	user := farm.Config.Users[0].Name
	const pw = "N3w-passw0rd"
	if _, err := a.ResetPassword(ctx, user, pw); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteSPN(ctx, farm.Config.SPN(), farm.Config.ServiceAccount); err != nil {
		t.Fatal(err)
	}
	c, err := krbhttp.New(krbhttp.Config{Krb5Conf: farm.Realm.Krb5Conf, Realm: farm.Config.Realm, User: user, Password: pw,
		SPN: farm.Config.SPN(), CAFile: farm.CAFile, DialAddr: farm.LBAddr(), NTLMFallback: true})
	if err != nil {
		t.Fatalf("kerberos login with the new password: %v", err)
	}
	defer c.Close()
	for i := 0; i < 2; i++ { // one request per host
		res, err := c.Get(ctx, farm.URL)
		if err != nil || res.Status != 200 || res.Mechanism != "NTLM" {
			t.Errorf("request %d: %+v, %v; want 200 over NTLM with the new password", i, res, err)
		}
	}
}
