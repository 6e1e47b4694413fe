package backend

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/peertest"
)

// gssNTLMClient is a real NTLM client with Extended Protection: MIT
// GSSAPI with the gss-ntlmssp mechanism, through python-gssapi. It opens
// one connection to URL (http or https), computes the channel bindings
// from the certificate it saw (BIND "peer") or from the PEM file BIND
// (the certificate a TLS-terminating balancer would have shown it), and
// runs NEGOTIATE / CHALLENGE / AUTHENTICATE on that connection with the
// target HTTP@FQDN. It prints {"status": ..., "body": ...}.
//
//	python3 - URL CAFILE FQDN BIND   (NTLM_USER_FILE names the credentials)
const gssNTLMClient = `
import base64, hashlib, http.client, json, ssl, sys, urllib.parse
import gssapi
url, cafile, fqdn, bind = sys.argv[1:5]
u = urllib.parse.urlsplit(url)
if u.scheme == "https":
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ssl.create_default_context(cafile=cafile), timeout=10)
else:
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
conn.connect()
if bind == "peer":
    der = conn.sock.getpeercert(binary_form=True)
else:
    der = ssl.PEM_cert_to_DER_cert(open(bind).read())
cb = gssapi.raw.ChannelBindings(application_data=b"tls-server-end-point:" + hashlib.sha256(der).digest())
ntlm = gssapi.OID.from_int_seq("1.3.6.1.4.1.311.2.2.10")
creds = gssapi.Credentials(name=gssapi.Name("KRBFARM\\alice", gssapi.NameType.user), usage="initiate", mechs=[ntlm])
ctx = gssapi.SecurityContext(name=gssapi.Name("HTTP@" + fqdn, gssapi.NameType.hostbased_service),
                             creds=creds, mech=ntlm, usage="initiate", channel_bindings=cb)
def get(tok):
    conn.request("GET", "/", headers={"Host": fqdn, "Accept": "application/json",
                                      "Authorization": "NTLM " + base64.b64encode(tok).decode()})
    r = conn.getresponse()
    return r, r.read().decode()
r, _ = get(ctx.step())
challenge = [v for k, v in r.getheaders() if k.lower() == "www-authenticate" and v.startswith("NTLM ")]
if r.status != 401 or not challenge:
    sys.exit("NEGOTIATE: status %d, headers %s: want 401 with an NTLM challenge" % (r.status, r.getheaders()))
r, body = get(ctx.step(base64.b64decode(challenge[0][5:])))
print(json.dumps({"status": r.status, "body": body}))
`

// needGSSNTLMSSP skips t (fails it with KRBFARM_REQUIRE_PEERS=1) unless
// Debian's python3 has python-gssapi and MIT GSSAPI has gss-ntlmssp.
func needGSSNTLMSSP(t *testing.T) {
	t.Helper()
	const fix = "apt-get install python3-gssapi gss-ntlmssp"
	if err := exec.Command("/usr/bin/python3", "-c", "import gssapi").Run(); err != nil {
		peertest.Missing(t, "/usr/bin/python3 cannot import gssapi: "+fix)
	}
	if m, _ := filepath.Glob("/usr/lib/*/gssntlmssp/gssntlmssp.so"); len(m) == 0 {
		peertest.Missing(t, "gss-ntlmssp (the NTLM mechanism for MIT GSSAPI) is not installed: "+fix)
	}
}

// TestGSSNTLMSSPExtendedProtection runs gss-ntlmssp against hosts that
// require Extended Protection: bound to the certificate the host served,
// to a balancer's certificate (refused), and with service binding behind
// a TLS-terminating balancer (its target name checked against spns).
func TestGSSNTLMSSPExtendedProtection(t *testing.T) {
	needGSSNTLMSSP(t)
	f := newFixture(t)
	certFile, keyFile, _ := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	lbCertFile, _, _ := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	users := filepath.Join(t.TempDir(), "ntlm_user_file")
	if err := os.WriteFile(users, []byte("KRBFARM:alice:alice-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	req := TokenCheckingRequire
	proxy := func(spns ...string) ExtendedProtection {
		return ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}, SPNs: spns}
	}
	tests := []struct {
		name    string
		ep      ExtendedProtection
		tls     bool
		bind    string // "peer" or a certificate file
		reason  string // "" = 200
		binding string
	}{
		{"Require, host terminates TLS", ExtendedProtection{TokenChecking: req}, true, "peer", "", BindingChannel},
		{"Require, bound to the balancer's certificate", ExtendedProtection{TokenChecking: req}, true, lbCertFile, ReasonBindingMismatch, ""},
		{"Require Proxy behind the balancer, SPN listed", proxy(testSPN), false, lbCertFile, "", BindingService},
		{"Require Proxy behind the balancer, SPN not listed", proxy("HTTP/other.krbfarm.localhost"), false, lbCertFile, ReasonServiceBinding, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cf, kf, scheme := "", "", "http://"
			if tt.tls {
				cf, kf, scheme = certFile, keyFile, "https://"
			}
			addr, evPath := ntlmEPASite(t, f, tt.ep, cf, kf)
			url := scheme + addr
			got := runGSSNTLM(t, users, url, certFile, tt.bind)
			ev := eventsOf(t, evPath)
			if tt.reason != "" {
				if got.Status != 401 || len(ev) != 1 || ev[0].Reason != tt.reason || ev[0].Package != "NTLM" {
					t.Errorf("status %d, events %+v; want 401 and a 4625 NTLM %s", got.Status, ev, tt.reason)
				}
				return
			}
			if got.Status != 200 {
				t.Fatalf("status %d %s, events %+v; want 200", got.Status, got.Body, ev)
			}
			if m := body(t, got.Body); m["mechanism"] != "NTLM" || m["user"] != "alice@"+testRealm || m["binding"] != tt.binding {
				t.Errorf("body %v; want alice by NTLM, binding %q", m, tt.binding)
			}
		})
	}
}

type gssNTLMResult struct {
	Status int    `json:"status"`
	Body   string `json:"body"`
}

func runGSSNTLM(t *testing.T, users, url, cafile, bind string) gssNTLMResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "-", url, cafile, "sso.krbfarm.localhost", bind)
	cmd.Stdin = strings.NewReader(gssNTLMClient)
	cmd.Env = append(os.Environ(), "NTLM_USER_FILE="+users)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gss-ntlmssp client: %v: %s", err, stderr.String())
	}
	var r gssNTLMResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("gss-ntlmssp client printed %q: %v", out, err)
	}
	return r
}
