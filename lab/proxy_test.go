package lab_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// TestLBModesAndProxy signs in with the real kinit and curl --negotiate
// from 127.0.0.2 through farms in reencrypt and terminate mode, with and
// without PROXY headers to the hosts: each host must serve over Kerberos,
// and report 127.0.0.2 (the client) in X-Client-Address and in its 4624
// event when the LB sends PROXY, the LB's 127.0.0.1 when it does not.
func TestLBModesAndProxy(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl not installed: apt-get install -y curl")
	}
	for _, tt := range []struct {
		mode, proxy, wantIP string
	}{
		{"reencrypt", "v2", "127.0.0.2"},
		{"terminate", "v1", "127.0.0.2"},
		{"reencrypt", "", "127.0.0.1"},
	} {
		t.Run(tt.mode+"/proxy="+or(tt.proxy, "off"), func(t *testing.T) {
			farm := labtest.Start(t, lab.Config{LB: lab.LBConfig{Mode: tt.mode, ProxyProtocol: tt.proxy}})
			env := kinit(t, farm)
			seen := map[string]bool{}
			for range 2 * len(farm.Hosts) {
				code, host, client := curlFrom(t, farm, env, "127.0.0.2")
				if code != "200" {
					t.Fatalf("curl: %s from %s; want 200", code, host)
				}
				if ip, _, _ := net.SplitHostPort(client); ip != tt.wantIP {
					t.Errorf("%s says %s %q; want %s:<port>", host, backend.ClientAddressHeader, client, tt.wantIP)
				}
				seen[host] = true
			}
			if len(seen) != len(farm.Hosts) {
				t.Errorf("served by %v; want every host", seen)
			}
			for _, h := range farm.Hosts {
				checkLogonFrom(t, lab.EventsPath(farm.Dir, h.Name), tt.wantIP)
			}
		})
	}
}

// curlFrom sends one authenticated request with curl bound to local and
// returns the status, X-Backend and X-Client-Address.
func curlFrom(t *testing.T, farm *lab.Farm, env []string, local string) (code, host, client string) {
	t.Helper()
	cmd := exec.Command("curl", "-s", "-o", "/dev/null", "--max-time", "10", "--negotiate", "-u", ":",
		"--interface", local, "--cacert", farm.CAFile,
		"--resolve", farm.Config.FQDN+":"+port(farm.LBAddr())+":127.0.0.1",
		"-w", "%{http_code} %header{x-backend} %header{x-client-address}", farm.URL)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl: %v\n%s", err, out)
	}
	f := append(strings.Fields(string(out)), "", "", "")
	return f[0], f[1], f[2]
}

// checkLogonFrom expects every 4624 in a host's events file to carry ip as
// its source network address.
func checkLogonFrom(t *testing.T, path, ip string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, _, err := backend.ReadEvents(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range evs {
		if e.ID != backend.EventLogonSuccess {
			continue
		}
		n++
		if e.IPAddress != ip || e.IPPort == "" {
			t.Errorf("%s: 4624 from %s port %s; want %s", path, e.IPAddress, e.IPPort, ip)
		}
	}
	if n == 0 {
		t.Errorf("%s: no 4624 event", path)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
