package lab_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestKinitCCacheForMITPrograms writes credential caches with Admin.Kinit
// and hands them to the real MIT programs: klist lists them, curl
// --negotiate gets its own service ticket with the TGT (alice, 200) or
// sends the cached one carrying 600 group SIDs (bob, 400 Request Header
// Too Long, as a Windows client in 600 groups gets).
func TestKinitCCacheForMITPrograms(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := farm.Admin()
	if err := a.AddUser(ctx, "bob", "bob-password", 600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		user, wantCode string
		wantService    bool
	}{
		{"alice", "200", false},
		{"bob", "400", true},
	} {
		t.Run(tc.user, func(t *testing.T) {
			cache := filepath.Join(t.TempDir(), "cc")
			res, err := a.Kinit(ctx, tc.user, "FILE:"+cache)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(cache); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("cache %s: %v, %v; want mode 0600", cache, fi, err)
			}
			if got := res.Service != ""; got != tc.wantService {
				t.Errorf("service ticket cached = %v (%+v); want %v", got, res, tc.wantService)
			}
			env := append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5CCNAME=FILE:"+cache)
			klist := exec.Command("klist")
			klist.Env = env
			out, err := klist.CombinedOutput()
			if err != nil {
				t.Fatalf("klist: %v\n%s", err, out)
			}
			for _, want := range []string{"Default principal: " + res.Principal, "krbtgt/" + farm.Config.Realm} {
				if !strings.Contains(string(out), want) {
					t.Errorf("klist output lacks %q:\n%s", want, out)
				}
			}
			if code, _, body := curlNegotiate(t, farm, env, true); code != tc.wantCode {
				t.Errorf("curl --negotiate as %s: %s; want %s\n%s", tc.user, code, tc.wantCode, body)
			}
		})
	}
	if _, err := a.Kinit(ctx, "nobody", filepath.Join(t.TempDir(), "cc")); err == nil {
		t.Error("kinit of an unknown user succeeded")
	}
}
