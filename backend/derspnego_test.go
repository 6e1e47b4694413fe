package backend

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// spnegoSeeds are SPNEGO tokens as clients send them: a NegTokenInit
// with the KRB5, MS KRB5 or NTLM OID first, a NegTokenResp, and the
// host's own reply.
func spnegoSeeds(t testing.TB) [][]byte {
	t.Helper()
	kt := newKeytab(t, testSPN, testPass, 2, aes256)
	var out [][]byte
	for _, mechs := range [][]asn1.ObjectIdentifier{nil, {oidMSKRB5(), oidKRB5()}, {oidNTLM(), oidKRB5()}} {
		h := mint(t, ticketSpec{kdc: kt, mechs: mechs})
		tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok)
	}
	resp := marshalNegTokenResp(int64(spnego.NegStateAcceptIncomplete), derOIDKRB5, []byte{1, 2, 3})
	b, _ := base64.StdEncoding.DecodeString("oRQwEqADCgEAoQsGCSqGSIb3EgECAg==")
	return append(out, resp, b)
}

// compareSPNEGO checks decodeSPNEGO against gokrb5's SPNEGOToken on b:
// what ours accepts, gokrb5 accepts with the same choice, mechanism token
// and first mechanism; where only gokrb5 accepts, b must not be the
// encoding gokrb5 itself writes for what it decoded.
func compareSPNEGO(t *testing.T, b []byte) {
	var st spnego.SPNEGOToken
	gerr := func() (err error) {
		defer func() {
			if recover() != nil {
				err = errPanic
			}
		}()
		return st.Unmarshal(b)
	}()
	nt, err := decodeSPNEGO(b)
	switch {
	case err == nil && gerr != nil:
		t.Fatalf("ours accepts %x, gokrb5 refuses it: %v", b, gerr)
	case err == nil:
		mech, first := st.NegTokenResp.ResponseToken, []byte(nil)
		if st.Init {
			mech = st.NegTokenInit.MechTokenBytes
			if len(st.NegTokenInit.MechTypes) > 0 {
				first, _ = asn1.Marshal(st.NegTokenInit.MechTypes[0])
			}
		}
		if nt.init != st.Init || !bytes.Equal(nt.mech, mech) || (nt.mech == nil) != (mech == nil) || !bytes.Equal(nt.first, first) {
			t.Fatalf("%x: ours init=%v mech=%x first=%x; gokrb5 init=%v mech=%x first=%x", b, nt.init, nt.mech, nt.first, st.Init, mech, first)
		}
	case gerr == nil:
		if re, merr := st.Marshal(); merr == nil && bytes.Equal(re, b) {
			t.Fatalf("ours refuses gokrb5's own encoding %x: %v", b, err)
		}
	}
}

var errPanic = errorString("decoder panic")

type errorString string

func (e errorString) Error() string { return string(e) }

func TestDecodeSPNEGOMatchesGokrb5(t *testing.T) {
	for _, b := range spnegoSeeds(t) {
		if _, err := decodeSPNEGO(b); err != nil {
			t.Errorf("seed %x: %v", b, err)
		}
		compareSPNEGO(t, b)
	}
	tok := spnegoSeeds(t)[0]
	for name, b := range map[string][]byte{
		"trailing byte": append(bytes.Clone(tok), 0),
		"truncated":     tok[:len(tok)-1],
		"not SPNEGO":    append([]byte{0x60, 0x03}, derOIDKRB5[:3]...),
	} {
		if _, err := decodeSPNEGO(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// FuzzDecodeSPNEGO compares decodeSPNEGO with gokrb5: see compareSPNEGO.
func FuzzDecodeSPNEGO(f *testing.F) {
	for _, b := range spnegoSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(compareSPNEGO)
}
