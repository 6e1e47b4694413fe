package backend

import (
	"bytes"
	"testing"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestDERMatchesGokrb5: the hand-written encodings are byte for byte
// gokrb5's asn1.Marshal of the same values, across optional fields left
// out, integers of every width and sign, and lengths of one, two and
// three bytes.
func TestDERMatchesGokrb5(t *testing.T) {
	ctime := time.Date(2026, 12, 2, 19, 4, 5, 0, time.FixedZone("x", 3600))
	for _, seq := range []int64{0, 1, 127, 128, 255, 256, 0x3fffffff, -1, -129} {
		for _, cusec := range []int{0, 1, 128, 999999} {
			for _, key := range []types.EncryptionKey{{}, {KeyType: 18, KeyValue: bytes.Repeat([]byte{7}, 32)}, {KeyType: 23, KeyValue: []byte{}}} {
				want := marshalGokrb5(t, messages.EncAPRepPart{CTime: ctime.UTC(), Cusec: cusec, Subkey: key, SequenceNumber: seq}, asnAppTag.EncAPRepPart)
				if got := marshalEncAPRepPart(ctime, cusec, key, seq); !bytes.Equal(got, want) {
					t.Fatalf("EncAPRepPart seq %d cusec %d key %d:\n got %x\nwant %x", seq, cusec, key.KeyType, got, want)
				}
			}
		}
	}
	for _, n := range []int{0, 1, 100, 127, 128, 255, 256, 70000} {
		for _, kvno := range []int{0, 2, 300} {
			enc := types.EncryptedData{EType: 18, KVNO: kvno, Cipher: bytes.Repeat([]byte{0xc3}, n)}
			want := marshalGokrb5(t, messages.APRep{PVNO: iana.PVNO, MsgType: msgtype.KRB_AP_REP, EncPart: enc}, asnAppTag.APREP)
			rep := marshalAPRep(enc)
			if !bytes.Equal(rep, want) {
				t.Fatalf("AP-REP cipher %d kvno %d:\n got %x\nwant %x", n, kvno, rep, want)
			}
			checkFrameAndResp(t, rep)
		}
	}
}

func checkFrameAndResp(t *testing.T, msg []byte) {
	t.Helper()
	oid, _ := asn1.Marshal(oidKRB5())
	want := asn1tools.AddASNAppTag(append(append(oid, tokIDAPRep...), msg...), 0)
	framed := gssFrameKRB5(tokIDAPRep, msg)
	if !bytes.Equal(framed, want) {
		t.Fatalf("GSS frame of %d bytes:\n got %x\nwant %x", len(msg), framed, want)
	}
	for _, mech := range []asn1.ObjectIdentifier{nil, oidKRB5(), oidMSKRB5(), oidNTLM()} {
		for _, tok := range [][]byte{nil, framed} {
			resp := spnego.NegTokenResp{NegState: asn1.Enumerated(spnego.NegStateAcceptCompleted), SupportedMech: mech, ResponseToken: tok}
			want, err := resp.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			der, err := oidDER(mech)
			if err != nil {
				t.Fatal(err)
			}
			if got := marshalNegTokenResp(int64(spnego.NegStateAcceptCompleted), der, tok); !bytes.Equal(got, want) {
				t.Fatalf("NegTokenResp mech %v token %d:\n got %x\nwant %x", mech, len(tok), got, want)
			}
		}
	}
}

func marshalGokrb5(t *testing.T, v any, appTag int) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return asn1tools.AddASNAppTag(b, appTag)
}
