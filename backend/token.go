package backend

import (
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/spnego"
)

// ntlmSignature starts every NTLMSSP message ("TlRMTVNT" in base64).
const ntlmSignature = "NTLMSSP\x00"

// oidNTLM is the NTLMSSP mechanism OID 1.3.6.1.4.1.311.2.2.10.
func oidNTLM() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 2, 10} }

func errNTLM() *AuthError {
	return &AuthError{Name: ReasonNTLM, Detail: "NTLM token: Kerberos was not used"}
}

// decodeHeader returns the raw token carried by an Authorization header
// value "Negotiate <base64>".
func decodeHeader(h string) ([]byte, error) {
	scheme, b64, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch {
	case strings.EqualFold(scheme, "NTLM"):
		return nil, errNTLM()
	case !strings.EqualFold(scheme, "Negotiate"):
		return nil, malformed("authorization scheme %.20q is not Negotiate", scheme)
	}
	b64 = strings.TrimSpace(b64)
	if b64 == "" {
		return nil, malformed("Negotiate header carries no token")
	}
	tok, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		tok, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, malformed("token is not valid base64: %v", err)
	}
	return tok, nil
}

func isNTLM(b []byte) bool {
	return len(b) >= len(ntlmSignature) && string(b[:len(ntlmSignature)]) == ntlmSignature
}

// parseAPReq extracts the Kerberos AP-REQ from a GSS token: SPNEGO
// NegTokenInit, NegTokenResp, or a raw KRB5 token. gokrb5's ASN.1 decoder
// can panic on hostile input, so a panic becomes MALFORMED_TOKEN.
func parseAPReq(tok []byte) (req *messages.APReq, err error) {
	defer func() {
		if p := recover(); p != nil {
			req, err = nil, malformed("token could not be decoded (decoder panic: %v)", p)
		}
	}()
	if isNTLM(tok) {
		return nil, errNTLM()
	}
	if isKRB5Token(tok) {
		return parseKRB5(tok)
	}
	mech, err := spnegoMechToken(tok)
	if err != nil {
		return nil, err
	}
	return parseKRB5(mech)
}

// isKRB5Token reports whether tok is a raw GSS KRB5 token (not SPNEGO):
// [APPLICATION 0] followed by the KRB5 mechanism OID.
func isKRB5Token(tok []byte) bool {
	var oid asn1.ObjectIdentifier
	if len(tok) == 0 || tok[0] != 0x60 {
		return false
	}
	if _, err := asn1.UnmarshalWithParams(tok, &oid, "application,explicit,tag:0"); err != nil {
		return false
	}
	return oid.Equal(oidKRB5()) || oid.Equal(oidMSKRB5())
}

func oidKRB5() asn1.ObjectIdentifier   { return asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2} }
func oidMSKRB5() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2} }

// spnegoMechToken returns the mechanism token inside a SPNEGO token.
func spnegoMechToken(tok []byte) ([]byte, error) {
	var st spnego.SPNEGOToken
	if err := st.Unmarshal(tok); err != nil {
		return nil, malformed("SPNEGO: %v", err)
	}
	var mech []byte
	switch {
	case st.Init:
		mech = st.NegTokenInit.MechTokenBytes
		types := st.NegTokenInit.MechTypes
		if !isNTLM(mech) && len(types) > 0 && types[0].Equal(oidNTLM()) {
			return nil, errNTLM()
		}
	case st.Resp:
		mech = st.NegTokenResp.ResponseToken
	}
	if isNTLM(mech) {
		return nil, errNTLM()
	}
	if len(mech) == 0 {
		return nil, malformed("SPNEGO token carries no mechanism token")
	}
	return mech, nil
}

// parseKRB5 decodes a GSS KRB5 token that must hold an AP-REQ.
func parseKRB5(b []byte) (*messages.APReq, error) {
	var kt spnego.KRB5Token
	if err := kt.Unmarshal(b); err != nil {
		return nil, malformed("KRB5 token: %v", err)
	}
	if !kt.IsAPReq() {
		return nil, malformed("KRB5 token is not an AP-REQ")
	}
	if len(kt.APReq.Ticket.SName.NameString) == 0 {
		return nil, malformed("AP-REQ ticket has an empty server name")
	}
	return &kt.APReq, nil
}

// principalString formats name@realm.
func principalString(name []string, realm string) string {
	return fmt.Sprintf("%s@%s", strings.Join(name, "/"), realm)
}
