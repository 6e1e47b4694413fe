package lab_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestClientChecksAPRep: the lab's client asks for mutual authentication
// and checks the host's AP-REP; a host that answers 200 without one, or
// with the AP-REP of another request, is a *MutualAuthError, not a logon.
func TestClientChecksAPRep(t *testing.T) {
	farm := labtest.Start(t, lab.Config{})
	c := labtest.Client(t, farm, "alice")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	res, err := c.Get(ctx, farm.URL)
	if err != nil || res.Status != 200 || res.Mechanism != "Kerberos" {
		t.Fatalf("through the LB: %+v, %v; want 200 Kerberos and the AP-REP checked", res, err)
	}
	stale := replyTo(t, farm, c)
	for _, tc := range []struct{ name, www, reason string }{
		{"no WWW-Authenticate", "", "0 WWW-Authenticate"},
		{"bare Negotiate", "Negotiate", "is not Negotiate <base64 token>"},
		{"AP-REP of another request", stale, "is not the authenticator's"},
		{"not base64", "Negotiate !!", "is not Negotiate <base64 token>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if tc.www != "" {
					w.Header().Set("WWW-Authenticate", tc.www)
				}
				w.Header().Set("X-Backend", "impostor")
			}))
			defer fake.Close()
			via, err := c.Via(fake.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(fake.Listener.Addr().String())
			res, err := via.Get(ctx, "http://"+net.JoinHostPort(farm.Config.FQDN, port)+"/")
			var me *krbhttp.MutualAuthError
			if !errors.As(err, &me) || me.Backend != "impostor" || res.Status != 200 || !strings.Contains(me.Reason, tc.reason) {
				t.Fatalf("got %+v, %v; want 200 and a *MutualAuthError naming impostor, %q", res, err, tc.reason)
			}
		})
	}
}

// replyTo returns a host's WWW-Authenticate for a token of c's: a genuine
// AP-REP, but for that token only.
func replyTo(t *testing.T, farm *lab.Farm, c *krbhttp.Client) string {
	t.Helper()
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+farm.Hosts[0].Addr+"/", nil)
	req.Header.Set("Authorization", tok)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	www := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != 200 || !strings.HasPrefix(www, "Negotiate ") {
		t.Fatalf("direct to %s: %d WWW-Authenticate %.20q; want 200 Negotiate <token>", farm.Hosts[0].Name, resp.StatusCode, www)
	}
	return www
}
