package clients_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/peertest"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// python is Debian's interpreter, which sees the python3-gssapi and
// python3-requests-kerberos packages (a python3 earlier on PATH may not).
const python = "/usr/bin/python3"

// pyClient is the client side of the tests, run by Debian's python3.
// The farm's name does not resolve for glibc programs, so the script maps
// it to 127.0.0.1 in socket.getaddrinfo: python's curl --resolve. URL,
// Host, SNI, certificate check (against the lab CA) and SPN all stay the
// farm's FQDN, as for a browser.
//
//	python3 - requests URL CAFILE FQDN         requests + requests_kerberos (mutual REQUIRED), two GETs on one session
//	python3 - gssapi   URL CAFILE FQDN MECH    python-gssapi, MECH spnego or krb5, one GET, then ctx.step(reply)
//
// It prints one JSON object; any exception exits non-zero with its traceback.
const pyClient = `
import base64, http.client, json, socket, ssl, sys, urllib.parse

mode, url, cafile, fqdn = sys.argv[1:5]
_getaddrinfo = socket.getaddrinfo
def _resolve(host, *args, **kw):
    return _getaddrinfo("127.0.0.1" if host == fqdn else host, *args, **kw)
socket.getaddrinfo = _resolve

def with_requests():
    import requests
    from requests_kerberos import HTTPKerberosAuth
    s = requests.Session()
    s.trust_env = False  # no proxy or CA bundle from the environment
    auth = HTTPKerberosAuth()  # mutual_authentication=REQUIRED
    out = {}
    for i in (1, 2):
        r = s.get(url, auth=auth, verify=cafile, timeout=10, headers={"Accept": "application/json"})
        out["status%d" % i] = r.status_code
        out["body%d" % i] = r.json() if r.status_code == 200 else r.text
    return out

def with_gssapi(mech_name):
    import gssapi
    mech = gssapi.MechType.kerberos if mech_name == "krb5" else gssapi.OID.from_int_seq("1.3.6.1.5.5.2")
    name = gssapi.Name("HTTP@" + fqdn, gssapi.NameType.hostbased_service)
    flags = gssapi.RequirementFlag.mutual_authentication | gssapi.RequirementFlag.out_of_sequence_detection
    ctx = gssapi.SecurityContext(name=name, mech=mech, flags=flags, usage="initiate")
    tok = ctx.step()
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=10, context=ssl.create_default_context(cafile=cafile))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.request("GET", "/", headers={"Authorization": "Negotiate " + base64.b64encode(tok).decode(), "Accept": "application/json"})
    r = conn.getresponse()
    body = r.read().decode()
    out = {"status": r.status, "body": json.loads(body) if r.status == 200 else body, "complete_before": ctx.complete}
    www = r.getheader("WWW-Authenticate", "")
    out["reply"] = www.split(" ", 1)[0]
    if www.startswith("Negotiate "):
        last = ctx.step(base64.b64decode(www.split(" ", 1)[1]))
        out["last_token"] = last is not None and len(last) > 0
    out["complete"] = ctx.complete
    out["mutual"] = bool(ctx.actual_flags & gssapi.RequirementFlag.mutual_authentication)
    return out

out = with_requests() if mode == "requests" else with_gssapi(sys.argv[5])
print(json.dumps(out))
`

// needPython skips t unless Debian's python3 has both client packages.
func needPython(t *testing.T) {
	t.Helper()
	if err := exec.Command(python, "-c", "import gssapi, requests_kerberos").Run(); err != nil {
		msg := fmt.Sprintf("%s cannot import gssapi and requests_kerberos (%v): apt-get install python3-gssapi python3-requests-kerberos", python, err)
		peertest.Missing(t, msg)
	}
}

// kinit logs the farm's first user in with MIT kinit into a ccache of
// the test's own and returns the environment for krb5 programs.
func kinit(t *testing.T, farm *lab.Farm) []string {
	t.Helper()
	u := farm.Config.Users[0]
	env := append(os.Environ(), "KRB5_CONFIG="+farm.Realm.Krb5Conf, "KRB5CCNAME=FILE:"+filepath.Join(t.TempDir(), "cc"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kinit", u.Name+"@"+farm.Config.Realm)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(u.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kinit: %v\n%s", err, out)
	}
	return env
}

// runPython runs pyClient with args and decodes its JSON into out.
func runPython(t *testing.T, env []string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, append([]string{"-"}, args...)...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(pyClient)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python %s: %v\n%s", args[0], err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("python %s printed %q: %v", args[0], b, err)
	}
}

// TestPythonRequestsKerberos: requests_kerberos with its default
// mutual_authentication=REQUIRED gets its 200 through the LB (it raises
// MutualAuthenticationError when the 200 carries no AP-REP), and a second
// GET on the same kept-alive connection, persisted, needs no new token.
func TestPythonRequestsKerberos(t *testing.T) {
	needPython(t)
	farm := labtest.Start(t, lab.Config{})
	env := kinit(t, farm)
	var got struct {
		Status1, Status2 int
		Body1, Body2     map[string]any
	}
	runPython(t, env, &got, "requests", farm.URL, farm.CAFile, farm.Config.FQDN)
	user := farm.Config.Users[0].Name + "@" + farm.Config.Realm
	if got.Status1 != 200 || got.Body1["user"] != user || got.Body1["mechanism"] != "Kerberos" {
		t.Fatalf("first GET: %d %v; want 200 as %s with Kerberos", got.Status1, got.Body1, user)
	}
	if got.Status2 != 200 || got.Body2["user"] != user {
		t.Fatalf("second GET: %d %v; want 200 as %s", got.Status2, got.Body2, user)
	}
}

// TestPythonGSSAPIContextCompletes: python-gssapi (MIT's
// gss_init_sec_context, mutual flag set) completes its context with the
// host's reply, for SPNEGO and for a raw krb5 token, through the LB and
// directly to a host over plain HTTP.
func TestPythonGSSAPIContextCompletes(t *testing.T) {
	needPython(t)
	farm := labtest.Start(t, lab.Config{})
	env := kinit(t, farm)
	_, port, _ := net.SplitHostPort(farm.Hosts[0].Addr)
	direct := "http://" + net.JoinHostPort(farm.Config.FQDN, port) + "/"
	for _, tc := range []struct{ name, url, mech string }{
		{"SPNEGO via LB", farm.URL, "spnego"},
		{"krb5 via LB", farm.URL, "krb5"},
		{"SPNEGO direct", direct, "spnego"},
		{"krb5 direct", direct, "krb5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got struct {
				Status         int
				Reply          string
				CompleteBefore bool `json:"complete_before"`
				Complete       bool
				Mutual         bool
			}
			runPython(t, env, &got, "gssapi", tc.url, farm.CAFile, farm.Config.FQDN, tc.mech)
			if got.Status != 200 || got.Reply != "Negotiate" {
				t.Fatalf("GET: %d, WWW-Authenticate scheme %q; want 200 with Negotiate <token>", got.Status, got.Reply)
			}
			if got.CompleteBefore || !got.Complete || !got.Mutual {
				t.Errorf("context complete before the reply %v, after %v, mutual %v; want false, true, true", got.CompleteBefore, got.Complete, got.Mutual)
			}
		})
	}
}
