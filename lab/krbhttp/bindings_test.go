package krbhttp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/backend"
)

// TestEndPointBindingsMatchHost: the client's own copy of RFC 5929 and the
// RFC 4121 struct hash gives the Bnd the host expects for the same
// certificate, for SHA-256 and SHA-384 signatures; a certificate seen by
// one hash differs from another's.
func TestEndPointBindingsMatchHost(t *testing.T) {
	var prev [16]byte
	for _, alg := range []x509.SignatureAlgorithm{x509.ECDSAWithSHA256, x509.ECDSAWithSHA384} {
		key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sso.krbfarm.localhost"},
			NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), SignatureAlgorithm: alg}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		got, err := endPointBindings(cert)
		if err != nil {
			t.Fatal(err)
		}
		app, err := backend.TLSServerEndPoint(cert)
		if err != nil {
			t.Fatal(err)
		}
		if want := backend.ChannelBindingsHash(app); got != want || got == prev {
			t.Errorf("%v: client Bnd %x, host expects %x (previous %x)", alg, got, want, prev)
		}
		prev = got
	}
}
