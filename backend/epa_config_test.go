package backend

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"strings"
	"testing"
)

func TestExtendedProtectionValidate(t *testing.T) {
	req := TokenCheckingRequire
	tests := []struct {
		name string
		ep   ExtendedProtection
		want string // "" = valid
	}{
		{"zero value", ExtendedProtection{}, ""},
		{"Require", ExtendedProtection{TokenChecking: req}, ""},
		{"IIS Manager's Accept", ExtendedProtection{TokenChecking: "accept"}, ""},
		{"Proxy with spns", ExtendedProtection{TokenChecking: req, Flags: []string{"proxy"}, SPNs: []string{testSPN}}, ""},
		{"Proxy NoServiceNameCheck", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy, EPAFlagNoServiceNameCheck}}, ""},
		{"dotless with AllowDotlessSpn", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy, EPAFlagAllowDotlessSpn}, SPNs: []string{"HTTP/sso"}}, ""},
		{"unknown mode", ExtendedProtection{TokenChecking: "Sometimes"}, "extendedProtection.tokenChecking"},
		{"unknown flag", ExtendedProtection{TokenChecking: req, Flags: []string{"Proxxy"}}, `extendedProtection.flags: "Proxxy"`},
		{"flag twice", ExtendedProtection{TokenChecking: req, Flags: []string{"Proxy", "proxy"}, SPNs: []string{testSPN}}, "listed twice"},
		{"None with others", ExtendedProtection{TokenChecking: req, Flags: []string{"None", EPAFlagNoServiceNameCheck}}, "None cannot be combined"},
		{"Cohosting without Proxy", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxyCohosting}}, "ProxyCohosting needs Proxy"},
		{"Proxy without spns", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}}, "extendedProtection.spns: flags Proxy"},
		{"spns without Proxy", ExtendedProtection{TokenChecking: req, SPNs: []string{testSPN}}, "extendedProtection.spns: read only with flags Proxy"},
		{"flags with None", ExtendedProtection{Flags: []string{EPAFlagProxy}, SPNs: []string{testSPN}}, "ignored with tokenChecking None"},
		{"spn not HTTP", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}, SPNs: []string{"HOST/sso.krbfarm.localhost"}}, "extendedProtection.spns[0]"},
		{"spn with realm", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}, SPNs: []string{testSPN + "@" + testRealm}}, "extendedProtection.spns[0]"},
		{"dotless spn", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}, SPNs: []string{testSPN, "HTTP/sso"}}, "spns[1] \"HTTP/sso\": not a fully qualified name"},
		{"spn twice", ExtendedProtection{TokenChecking: req, Flags: []string{EPAFlagProxy}, SPNs: []string{testSPN, strings.ToUpper(testSPN)}}, "spns[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Name: "s", Keytab: "k", ExtendedProtection: tt.ep}
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestExtendedProtectionYAML(t *testing.T) {
	c, err := DecodeConfig(strings.NewReader(`name: s
keytab: k
extendedProtection:
  tokenChecking: require
  flags: [Proxy, ProxyCohosting]
  spns: [HTTP/sso.krbfarm.localhost]
`))
	if err != nil {
		t.Fatal(err)
	}
	c = c.withDefaults()
	ep := c.ExtendedProtection
	if ep.TokenChecking != TokenCheckingRequire || ep.flags() != flagProxy|flagCohosting || len(ep.SPNs) != 1 {
		t.Errorf("decoded %+v; want Require, Proxy|ProxyCohosting, one SPN", ep)
	}
	if _, err := DecodeConfig(strings.NewReader("name: s\nkeytab: k\nextendedProtection: {tokenCheck: Require}\n")); err == nil {
		t.Error("unknown key under extendedProtection accepted")
	}
}

func TestTLSServerEndPoint(t *testing.T) {
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, _, c256 := testCert(t, newP256(t), x509.ECDSAWithSHA256)
	_, _, c384 := testCert(t, p384, x509.ECDSAWithSHA384)
	sum384 := sha512.Sum384(c384.Raw)
	for _, tt := range []struct {
		name string
		cert *x509.Certificate
		want []byte
	}{
		{"ECDSA SHA-256", c256, clientBndAppData(c256)},
		{"ECDSA SHA-384", c384, append([]byte("tls-server-end-point:"), sum384[:]...)},
	} {
		got, err := TLSServerEndPoint(tt.cert)
		if err != nil || string(got) != string(tt.want) {
			t.Errorf("%s: TLSServerEndPoint = %x, %v; want %x", tt.name, got, err, tt.want)
		}
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	_, _, ced := testCert(t, edKey, x509.PureEd25519)
	if _, err := TLSServerEndPoint(ced); err == nil {
		t.Error("TLSServerEndPoint(Ed25519 certificate) = nil error; RFC 5929 defines no hash for it")
	}
}

// TestEd25519CertificateWithChannelBinding: a host that must match
// channel bindings refuses to serve a certificate that has none.
func TestEd25519CertificateWithChannelBinding(t *testing.T) {
	f := newFixture(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	certFile, keyFile, _ := testCert(t, edKey, x509.PureEd25519)
	s, _ := newSite(t, "server1", f.siteKT, func(c *Config) {
		c.TLSCert, c.TLSKey = certFile, keyFile
		c.ExtendedProtection.TokenChecking = TokenCheckingRequire
	})
	ln := listen(t)
	if err := s.Serve(t.Context(), ln); err == nil || !strings.Contains(err.Error(), "tls-server-end-point") {
		t.Errorf("Serve = %v; want an error naming tls-server-end-point", err)
	}
}
