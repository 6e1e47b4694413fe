package backend

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/peertest"

	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// debianPython is Debian's interpreter, which sees python3-gssapi (a
// python3 earlier on PATH may not).
const debianPython = "/usr/bin/python3"

// mitClient is a client on MIT's libgssapi_krb5 (python-gssapi): it
// opens TLS to sso.krbfarm.localhost (mapped to 127.0.0.1) on PORT, hashes
// the certificate it saw as RFC 5929 says, and passes (BINDINGS "seen")
// "tls-server-end-point:" + hash as channel bindings to
// gss_init_sec_context (SPNEGO, mutual), then sends the token on that
// connection. BINDINGS "none" passes none; "other" a hash one bit off.
// (requests_kerberos would do the same, but Debian 12's
// pykerberos 1.1.14 lacks channelBindings, so it silently sends none.)
//
//	python3 - PORT CAFILE BINDINGS
const mitClient = `
import base64, hashlib, http.client, json, ssl, sys
import gssapi, gssapi.raw
from cryptography import x509
port, cafile, send_cbt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
fqdn = "sso.krbfarm.localhost"
tls = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection(fqdn, port, context=tls, timeout=10)
conn.sock = tls.wrap_socket(__import__("socket").create_connection(("127.0.0.1", port), 10), server_hostname=fqdn)
der = conn.sock.getpeercert(True)
alg = x509.load_der_x509_certificate(der).signature_hash_algorithm.name
app = b"tls-server-end-point:" + hashlib.new("sha256" if alg in ("md5", "sha1") else alg, der).digest()
if send_cbt == "other":  # as if it had seen another certificate
    app = app[:-1] + bytes([app[-1] ^ 1])
cb = gssapi.raw.ChannelBindings(application_data=app) if send_cbt != "none" else None
ctx = gssapi.SecurityContext(name=gssapi.Name("HTTP@" + fqdn, gssapi.NameType.hostbased_service),
    mech=gssapi.OID.from_int_seq("1.3.6.1.5.5.2"), usage="initiate", channel_bindings=cb,
    flags=gssapi.RequirementFlag.mutual_authentication)
tok = ctx.step()
conn.request("GET", "/", headers={"Authorization": "Negotiate " + base64.b64encode(tok).decode(), "Accept": "application/json"})
r = conn.getresponse()
print(json.dumps({"status": r.status, "body": r.read().decode()}))
`

// TestExtendedProtectionMITClient: MIT's real GSSAPI client, given the
// certificate it saw over TLS, produces bindings the host accepts with
// tokenChecking Require; without them it is refused. No KDC is needed:
// the service ticket is minted here and put in an MIT ccache, where
// gss_init_sec_context finds it.
func TestExtendedProtectionMITClient(t *testing.T) {
	needMITPython(t)
	f := newFixture(t)
	certFile, keyFile, cert := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	e := serveEPA(t, f, ExtendedProtection{TokenChecking: TokenCheckingRequire}, certFile, keyFile, cert)
	env := mitClientEnv(t, f)
	_, port, _ := strings.Cut(strings.TrimPrefix(e.base, "https://"), ":")
	for _, tt := range []struct {
		bindings string
		reason   string // "" = 200
	}{{"seen", ""}, {"none", ReasonBindingMissing}, {"other", ReasonBindingMismatch}} {
		t.Run(tt.bindings, func(t *testing.T) {
			var out struct {
				Status int
				Body   string
			}
			runMITClient(t, env, &out, port, certFile, tt.bindings)
			if tt.reason != "" {
				if out.Status != 401 {
					t.Fatalf("status %d (%s); want 401 %s", out.Status, out.Body, tt.reason)
				}
				e.checkRefusal(t, tt.reason)
				return
			}
			var id Identity
			if err := json.Unmarshal([]byte(out.Body), &id); out.Status != 200 || err != nil || id.Binding != BindingChannel {
				t.Errorf("status %d, identity %q (%v); want 200 with binding %q", out.Status, out.Body, err, BindingChannel)
			}
		})
	}
}

// needMITPython skips t unless Debian's python3 has requests_kerberos.
func needMITPython(t *testing.T) {
	t.Helper()
	if err := exec.Command(debianPython, "-c", "import gssapi, cryptography").Run(); err != nil {
		msg := fmt.Sprintf("%s cannot import gssapi and cryptography (%v): apt-get install python3-gssapi python3-cryptography", debianPython, err)
		peertest.Missing(t, msg)
	}
}

func runMITClient(t *testing.T, env []string, out any, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, debianPython, append([]string{"-"}, args...)...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(mitClient)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("python client printed %q: %v\n%s", b, err, stderr.String())
	}
}

// mitClientEnv writes a krb5.conf with no reachable KDC and a ccache
// holding alice's service ticket for the test SPN, and returns the
// environment that points MIT at them.
func mitClientEnv(t *testing.T, f *fixture) []string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`[libdefaults]
 default_realm = %[1]s
 dns_canonicalize_hostname = false
 rdns = false
 dns_lookup_kdc = false
 dns_lookup_realm = false
[realms]
 %[1]s = { kdc = 127.0.0.1:1 }
[domain_realm]
 sso.krbfarm.localhost = %[1]s
`, testRealm)
	confFile, ccFile := filepath.Join(dir, "krb5.conf"), filepath.Join(dir, "cc")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ccFile, mitCCache(t, f), 0o600); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(), "KRB5_CONFIG="+confFile, "KRB5CCNAME=FILE:"+ccFile, "KRB5_TRACE=/dev/stderr")
}

// mitCCache returns an MIT file ccache (format 0x0504, big-endian) whose
// default principal is alice and whose one credential is a service ticket
// for the test SPN, minted with the KDC's key.
func mitCCache(t *testing.T, f *fixture) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	cname := types.NewPrincipalName(nametype.KRB_NT_PRINCIPAL, "alice")
	sname := types.NewPrincipalName(nametype.KRB_NT_SRV_HST, testSPN)
	start, end := now.Add(-time.Minute), now.Add(time.Hour)
	tkt, key, err := messages.NewTicket(cname, testRealm, sname, testRealm, types.NewKrbFlags(), f.kdc, aes256, 2, start, start, end, end)
	if err != nil {
		t.Fatalf("NewTicket: %v", err)
	}
	der, err := tkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var b ccWriter
	b.u16(0x0504)
	b.u16(0) // no header fields
	b.principal(cname)
	b.principal(cname)
	b.principal(sname)
	b.u16(uint16(key.KeyType))
	b.data(key.KeyValue)
	for _, tm := range []time.Time{start, start, end, end} { // authtime, starttime, endtime, renew_till
		b.u32(uint32(tm.Unix()))
	}
	b.WriteByte(0) // is_skey
	b.u32(0)       // ticket flags
	b.u32(0)       // addresses
	b.u32(0)       // authdata
	b.data(der)
	b.data(nil) // second ticket
	return b.Bytes()
}

type ccWriter struct{ bytes.Buffer }

func (w *ccWriter) u16(v uint16)  { binary.Write(w, binary.BigEndian, v) }
func (w *ccWriter) u32(v uint32)  { binary.Write(w, binary.BigEndian, v) }
func (w *ccWriter) data(b []byte) { w.u32(uint32(len(b))); w.Write(b) }

func (w *ccWriter) principal(p types.PrincipalName) {
	w.u32(uint32(p.NameType))
	w.u32(uint32(len(p.NameString)))
	w.data([]byte(testRealm))
	for _, c := range p.NameString {
		w.data([]byte(c))
	}
}
