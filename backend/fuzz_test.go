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

// FuzzNTLM feeds NTLM messages to the header decoder, the AUTHENTICATE
// parser, the AV pair reader and the logon check (with a challenge
// pending, Extended Protection required on a TLS channel): any input gives
// an *AuthError or a valid identity, never a panic.
func FuzzNTLM(f *testing.F) {
	kt := newKeytab(f, testSPN, testPass, 2, aes256)
	s, _ := newSite(f, "server1", writeKeytab(f, kt), func(c *Config) {
		c.NTLMUsers = ntlmUsersFile(f)
		c.ExtendedProtection.TokenChecking = TokenCheckingRequire
	})
	endPoint := []byte("tls-server-end-point:host")
	bnd := ChannelBindingsHash(endPoint)
	chal := []byte("12345678")
	ch := buildNTLMChallenge(chal, 0, s.ntlmNames, time.Now())
	f.Add(ntlmType1())
	f.Add(ch)
	f.Add(ntlmClient{user: "alice", domain: "D", password: "alice-password"}.authenticate(f, ch))
	f.Add(ntlmClient{user: "alice", password: "x", v1: true}.authenticate(f, ch))
	f.Add(ntlmClient{user: "alice", domain: "D", password: "alice-password", bindings: bnd[:], target: testSPN}.authenticate(f, ch))
	f.Add([]byte("NTLMSSP\x00\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		b64 := base64.StdEncoding.EncodeToString(msg)
		for _, h := range []string{"NTLM " + b64, "Negotiate " + b64} {
			ntlmToken(h)
		}
		if a, err := parseNTLMAuthenticate(msg); err == nil && a == nil {
			t.Fatal("nil message without error")
		}
		cs := &connState{}
		cs.setChallenge(ntlmPending{challenge: chal, negotiate: ntlmType1(), challMsg: ch}, s.verifier.now())
		ntlmv2Pairs(msg)
		id, err := s.ntlmLogon(cs, msg, "127.0.0.1:1", Channel{EndPoint: endPoint})
		var ae *AuthError
		if err == nil && (id == nil || id.User == "" || id.Mechanism != "NTLM") {
			t.Fatalf("nil error with identity %+v", id)
		}
		if err != nil && !errors.As(err, &ae) {
			t.Fatalf("error %T %v is not an *AuthError", err, err)
		}
	})
}
