package backend

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"
)

func FuzzVerify(f *testing.F) {
	kt := newKeytab(f, testSPN, testPass, 2, aes256, rc4)
	f.Add(mint(f, ticketSpec{kdc: kt}))
	f.Add(mint(f, ticketSpec{kdc: kt, raw: true}))
	f.Add("Negotiate " + base64.StdEncoding.EncodeToString(ntlmType1()))
	f.Add("Negotiate YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYBBAGCNwICHgYKKwYBBAGCNwICCg==")
	f.Add("Negotiate oRQwEqADCgEAoQsGCSqGSIb3EgECAg==")
	f.Add("Negotiate !!")
	f.Add("")
	v := NewVerifier(Config{SPN: testSPN, Realm: testRealm}, kt, nil)
	f.Fuzz(func(t *testing.T, header string) {
		id, err := v.Verify(header, "127.0.0.1:1")
		if err == nil {
			if id == nil || id.User == "" {
				t.Fatalf("nil error with identity %+v", id)
			}
			return
		}
		var ae *AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("error %T %v is not an *AuthError", err, err)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	kt := newKeytab(b, testSPN, testPass, 2, aes256)
	v := NewVerifier(Config{SPN: testSPN, Realm: testRealm}, kt, nil)
	toks := make([]string, b.N)
	t0 := time.Now().UTC()
	for i := range toks {
		// Distinct ctimes so no token is a replay of another.
		toks[i] = mint(b, ticketSpec{kdc: kt, ctime: t0.Add(-time.Duration(i) * time.Microsecond)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := v.Verify(toks[i], "127.0.0.1:1"); err != nil {
			b.Fatal(err)
		}
	}
}
