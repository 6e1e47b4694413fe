package backend

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// realMessages mints tokens as clients send them and returns, for each,
// the raw KRB5 token, its decrypted EncTicketPart and Authenticator.
func realMessages(t testing.TB) [][]byte {
	t.Helper()
	kt := newKeytab(t, testSPN, testPass, 2, aes256, rc4)
	var out [][]byte
	for _, spec := range []ticketSpec{
		{kdc: kt, raw: true},
		{kdc: kt, raw: true, mutual: true, subkey: aes256},
		{kdc: kt, raw: true, etype: rc4, bnd: bytes.Repeat([]byte{7}, 16)},
	} {
		h := mint(t, spec)
		tok, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Negotiate "))
		if err != nil {
			t.Fatal(err)
		}
		var k spnego.KRB5Token
		if err := k.Unmarshal(tok); err != nil {
			t.Fatal(err)
		}
		key, _, err := findKey(kt, k.APReq.Ticket.SName, k.APReq.Ticket.Realm, k.APReq.Ticket.EncPart.KVNO, k.APReq.Ticket.EncPart.EType)
		if err != nil {
			t.Fatal(err)
		}
		etp, err := crypto.DecryptEncPart(k.APReq.Ticket.EncPart, key, keyusage.KDC_REP_TICKET)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.APReq.Ticket.DecryptedEncPart.Unmarshal(etp); err != nil {
			t.Fatal(err)
		}
		auth, err := crypto.DecryptEncPart(k.APReq.EncryptedAuthenticator, k.APReq.Ticket.DecryptedEncPart.Key, keyusage.AP_REQ_AUTHENTICATOR)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tok, etp, auth)
	}
	return append(out, fullEncTicketPart(t))
}

// fullEncTicketPart is an EncTicketPart with every optional field.
func fullEncTicketPart(t testing.TB) []byte {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	e := messages.EncTicketPart{
		Flags: types.NewKrbFlags(), Key: types.EncryptionKey{KeyType: aes256, KeyValue: make([]byte, 32)},
		CRealm: testRealm, CName: types.NewPrincipalName(1, "alice"),
		Transited: messages.TransitedEncoding{TRType: 1, Contents: []byte{}},
		AuthTime:  now, StartTime: now, EndTime: now.Add(time.Hour), RenewTill: now.Add(2 * time.Hour),
		CAddr:             types.HostAddresses{{AddrType: 2, Address: []byte{127, 0, 0, 1}}},
		AuthorizationData: types.AuthorizationData{{ADType: 1, ADData: []byte{0x30, 0}}},
	}
	b, err := asn1.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.EncTicketPart)
}

// gokrb5Decode decodes b with gokrb5 as each of the three messages.
func gokrb5Decode(b []byte) (req *messages.APReq, etp *messages.EncTicketPart, auth *types.Authenticator) {
	func() {
		defer func() { recover() }()
		var k spnego.KRB5Token
		if k.Unmarshal(b) == nil && k.IsAPReq() {
			req = &k.APReq
		}
	}()
	func() {
		defer func() { recover() }()
		var e messages.EncTicketPart
		if e.Unmarshal(b) == nil {
			etp = &e
		}
	}()
	func() {
		defer func() { recover() }()
		var a types.Authenticator
		if a.Unmarshal(b) == nil {
			auth = &a
		}
	}()
	return req, etp, auth
}

// compareDecoders checks this package's decoders against gokrb5's on b:
// what ours accepts, gokrb5 accepts with the same fields. Ours is
// stricter (trailing bytes, extra elements, other string and time forms
// gokrb5 lets through), so where only gokrb5 accepts, b must not be the
// encoding gokrb5 itself writes for what it decoded.
func compareDecoders(t *testing.T, b []byte) {
	greq, getp, gauth := gokrb5Decode(b)
	req, err := decodeKRB5APReq(b)
	check(t, "AP-REQ", b, err, req, greq, func() ([]byte, error) {
		ab, err := greq.Marshal()
		return asn1tools.AddASNAppTag(append(append(append([]byte{}, derOIDKRB5...), 1, 0), ab...), 0), err
	})
	var e messages.EncTicketPart
	err = decodeEncTicketPart(b, &e)
	check(t, "EncTicketPart", b, err, &e, getp, func() ([]byte, error) {
		m, err := asn1.Marshal(*getp)
		return asn1tools.AddASNAppTag(m, asnAppTag.EncTicketPart), err
	})
	var a types.Authenticator
	err = decodeAuthenticator(b, &a)
	check(t, "Authenticator", b, err, &a, gauth, func() ([]byte, error) { return gauth.Marshal() })
}

func check[T any](t *testing.T, what string, b []byte, err error, ours, theirs *T, remarshal func() ([]byte, error)) {
	t.Helper()
	switch {
	case err == nil && theirs == nil:
		t.Fatalf("%s: ours accepts %x, gokrb5 refuses it", what, b)
	case err == nil && !reflect.DeepEqual(ours, theirs):
		t.Fatalf("%s: %x decodes to\n%+v\ngokrb5:\n%+v", what, b, ours, theirs)
	case err != nil && theirs != nil:
		if re, merr := remarshal(); merr == nil && bytes.Equal(re, b) && utcTimes(theirs) {
			t.Fatalf("%s: ours refuses gokrb5's own encoding %x: %v", what, b, err)
		}
	}
}

// utcTimes reports whether every time in v is in UTC (what ours takes).
func utcTimes(v any) bool {
	switch x := v.(type) {
	case *messages.EncTicketPart:
		return isUTC(x.AuthTime, x.StartTime, x.EndTime, x.RenewTill)
	case *types.Authenticator:
		return isUTC(x.CTime)
	}
	return true
}

func isUTC(ts ...time.Time) bool {
	for _, t := range ts {
		if t.Location() != time.UTC {
			return false
		}
	}
	return true
}

func TestDERDecodeMatchesGokrb5(t *testing.T) {
	for _, b := range realMessages(t) {
		greq, getp, gauth := gokrb5Decode(b)
		if greq == nil && getp == nil && gauth == nil {
			t.Fatalf("gokrb5 refuses seed %x", b)
		}
		compareDecoders(t, b)
	}
}

// TestDERDecodeRefuses checks the decoder's strictness on a real
// Authenticator and AP-REQ, each altered one way.
func TestDERDecodeRefuses(t *testing.T) {
	msgs := realMessages(t)
	tok, auth := msgs[0], msgs[2]
	cases := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"as minted", auth, true},
		{"trailing byte", append(bytes.Clone(auth), 0), false},
		{"truncated", auth[:len(auth)-1], false},
		{"wrong application tag", append([]byte{0x63}, auth[1:]...), false},
		{"indefinite length", append([]byte{auth[0], 0x80}, auth[2:]...), false},
		{"long form of a short length", []byte{0x62, 0x81, 0x03, 0x30, 0x01, 0x00}, false},
		{"empty", nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var a types.Authenticator
			if err := decodeAuthenticator(tc.b, &a); (err == nil) != tc.ok {
				t.Fatalf("decodeAuthenticator: %v; want ok=%v", err, tc.ok)
			}
		})
	}
	t.Run("token with trailing byte", func(t *testing.T) {
		if _, err := decodeKRB5APReq(append(bytes.Clone(tok), 0)); err == nil {
			t.Fatal("accepted")
		}
		if _, err := decodeKRB5APReq(tok); err != nil {
			t.Fatalf("as minted: %v", err)
		}
	})
}

func TestDERTime(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"20260102030405Z", true},
		{"20240229235959Z", true},
		{"20230229000000Z", false}, // not a leap year
		{"20261301000000Z", false},
		{"20260101240000Z", false},
		{"20260101000060Z", false},
		{"20260101000000", false},
		{"20260101000000+0100", false},
		{"2026010100000aZ", false},
	} {
		var p derParser
		got := p.time([]byte(tc.in))
		if (p.err == nil) != tc.ok {
			t.Errorf("%s: %v; want ok=%v", tc.in, p.err, tc.ok)
			continue
		}
		if tc.ok {
			want, _ := time.Parse("20060102150405Z0700", tc.in)
			if !got.Equal(want) || got.Location() != time.UTC {
				t.Errorf("%s: %v; want %v", tc.in, got, want)
			}
		}
	}
}

// FuzzDecodeAPReq feeds bytes to the AP-REQ, EncTicketPart and
// Authenticator decoders and to gokrb5's: see compareDecoders.
func FuzzDecodeAPReq(f *testing.F) {
	for _, b := range realMessages(f) {
		f.Add(b)
	}
	f.Fuzz(compareDecoders)
}
