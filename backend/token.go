package backend

import (
	"bytes"
	"encoding/base64"
	"strings"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/messages"
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

// gssInput is a parsed Negotiate token: the AP-REQ, and how the client
// wrapped it, which the host's reply mirrors.
type gssInput struct {
	req    *messages.APReq
	spnego bool                  // wrapped in SPNEGO; false: a raw KRB5 token
	mech   asn1.ObjectIdentifier // SPNEGO NegTokenInit: the client's first mechanism; nil otherwise
}

// parseAPReq extracts the Kerberos AP-REQ from a GSS token: SPNEGO
// NegTokenInit, NegTokenResp, or a raw KRB5 token. gokrb5's ASN.1 decoder
// can panic on hostile input, so a panic becomes MALFORMED_TOKEN.
func parseAPReq(tok []byte) (in *gssInput, err error) {
	defer func() {
		if p := recover(); p != nil {
			in, err = nil, malformed("token could not be decoded (decoder panic: %v)", p)
		}
	}()
	if isNTLM(tok) {
		return nil, errNTLM()
	}
	if isKRB5Token(tok) {
		req, err := parseKRB5(tok)
		if err != nil {
			return nil, err
		}
		return &gssInput{req: req}, nil
	}
	mech, first, err := spnegoMechToken(tok)
	if err != nil {
		return nil, err
	}
	req, err := parseKRB5(mech)
	if err != nil {
		return nil, err
	}
	return &gssInput{req: req, spnego: true, mech: replyMech(first)}, nil
}

// replyMech is the supportedMech of the host's answer to a NegTokenInit
// whose first mechanism has the DER first: that mechanism when it is
// Kerberos under either OID (Windows offers the MS OID first), so that
// the client needs no mechListMIC; else the standard Kerberos OID. A
// NegTokenResp (first nil) gets none: supportedMech is only in the first
// reply.
func replyMech(first []byte) asn1.ObjectIdentifier {
	switch {
	case first == nil:
		return nil
	case bytes.Equal(first, derOIDMSKRB5):
		return oidMSKRB5()
	}
	return oidKRB5()
}

// isKRB5Token reports whether tok is a raw GSS KRB5 token (not SPNEGO):
// [APPLICATION 0] starting with a KRB5 mechanism OID.
func isKRB5Token(tok []byte) bool {
	var p derParser
	c := p.elem(&tok, derApplication)
	return p.err == nil && (bytes.HasPrefix(c, derOIDKRB5) || bytes.HasPrefix(c, derOIDMSKRB5))
}

func oidKRB5() asn1.ObjectIdentifier   { return asn1.ObjectIdentifier{1, 2, 840, 113554, 1, 2, 2} }
func oidMSKRB5() asn1.ObjectIdentifier { return asn1.ObjectIdentifier{1, 2, 840, 48018, 1, 2, 2} }

// spnegoMechToken returns the mechanism token inside a SPNEGO token and,
// for a NegTokenInit, the DER of the client's first mechanism (nil for a
// NegTokenResp).
func spnegoMechToken(tok []byte) ([]byte, []byte, error) {
	nt, err := decodeSPNEGO(tok)
	if err != nil {
		return nil, nil, malformed("SPNEGO: %v", err)
	}
	if nt.init && !isNTLM(nt.mech) && bytes.Equal(nt.first, derOIDNTLM) {
		return nil, nil, errNTLM()
	}
	if isNTLM(nt.mech) {
		return nil, nil, errNTLM()
	}
	if len(nt.mech) == 0 {
		return nil, nil, malformed("SPNEGO token carries no mechanism token")
	}
	return nt.mech, nt.first, nil
}

// parseKRB5 decodes a GSS KRB5 token that must hold an AP-REQ.
func parseKRB5(b []byte) (*messages.APReq, error) {
	req, err := decodeKRB5APReq(b)
	if err != nil {
		return nil, malformed("KRB5 token: %v", err)
	}
	if len(req.Ticket.SName.NameString) == 0 {
		return nil, malformed("AP-REQ ticket has an empty server name")
	}
	return req, nil
}

// principalString formats name@realm.
func principalString(name []string, realm string) string {
	if len(name) == 1 {
		return name[0] + "@" + realm
	}
	return strings.Join(name, "/") + "@" + realm
}
