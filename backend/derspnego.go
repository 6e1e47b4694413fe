package backend

import (
	"bytes"
	"errors"
)

// SPNEGO's framing (RFC 4178 §4.2), decoded by hand as the Kerberos
// messages are (derdecode.go): the GSS InitialContextToken around a
// NegTokenInit, or a bare NegTokenResp. Only what the host reads is kept:
// the mechanism token and the DER of the client's first mechanism. It
// accepts a subset of what gokrb5's SPNEGOToken.Unmarshal accepts, with
// the same values (FuzzDecodeSPNEGO).

// derOIDSPNEGO is the DER of the SPNEGO OID 1.3.6.1.5.5.2.
var derOIDSPNEGO = []byte{derOID, 6, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02}

// derOIDNTLM is the DER of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10.
var derOIDNTLM = []byte{derOID, 10, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a}

// negToken is a decoded SPNEGO token.
type negToken struct {
	init  bool   // a NegTokenInit; false: a NegTokenResp
	mech  []byte // mechToken (Init) or responseToken (Resp); nil when absent
	first []byte // Init: DER of the first of mechTypes; nil when none
}

// decodeSPNEGO decodes a SPNEGO token that must fill b: [APPLICATION 0]
// { SPNEGO OID, [0] NegTokenInit }, or [1] NegTokenResp.
func decodeSPNEGO(b []byte) (negToken, error) {
	var p derParser
	if has(b, derContext|1) {
		c := p.elem(&b, derContext|1)
		p.end(b, "the SPNEGO token")
		return p.negTokenResp(p.elem(&c, derSequence), c)
	}
	c := p.elem(&b, derApplication)
	p.end(b, "the SPNEGO token")
	if p.err == nil && !bytes.HasPrefix(c, derOIDSPNEGO) {
		return negToken{}, errors.New("not a SPNEGO token")
	}
	if p.err != nil {
		return negToken{}, p.err
	}
	c = c[len(derOIDSPNEGO):]
	if has(c, derContext|1) {
		r := p.elem(&c, derContext|1)
		p.end(c, "the SPNEGO token")
		return p.negTokenResp(p.elem(&r, derSequence), r)
	}
	i := p.elem(&c, derContext|0)
	p.end(c, "the SPNEGO token")
	return p.negTokenInit(p.elem(&i, derSequence), i)
}

// negTokenInit decodes NegTokenInit's SEQUENCE contents c; rest is what
// followed the SEQUENCE in its choice tag (nothing may).
func (p *derParser) negTokenInit(c, rest []byte) (negToken, error) {
	p.end(rest, "NegTokenInit")
	t := negToken{init: true}
	types := p.seqField(&c, 0)
	for i := 0; p.err == nil && len(types) > 0; i++ {
		oid := p.oid(&types)
		if i == 0 {
			t.first = oid
		}
	}
	if has(c, derContext|1) {
		p.bitString(p.explicit(&c, 1, derBitString))
	}
	if has(c, derContext|2) {
		t.mech = p.bytesField(&c, 2)
	}
	if has(c, derContext|3) {
		p.bytesField(&c, 3)
	}
	p.end(c, "NegTokenInit")
	return t, p.err
}

// negTokenResp decodes NegTokenResp's SEQUENCE contents c.
func (p *derParser) negTokenResp(c, rest []byte) (negToken, error) {
	p.end(rest, "NegTokenResp")
	var t negToken
	p.int32(p.explicit(&c, 0, derEnumerated))
	if has(c, derContext|1) {
		m := p.elem(&c, derContext|1)
		p.oid(&m)
		p.end(m, "supportedMech")
	}
	if has(c, derContext|2) {
		t.mech = p.bytesField(&c, 2)
	}
	if has(c, derContext|3) {
		p.bytesField(&c, 3)
	}
	p.end(c, "NegTokenResp")
	return t, p.err
}

// oid takes an OBJECT IDENTIFIER from the front of *b and returns its
// whole DER (identifier and length included). Each arc must be minimal
// and at most 4 bytes (28 bits), as gokrb5's decoder allows.
func (p *derParser) oid(b *[]byte) []byte {
	start := *b
	c := p.elem(b, derOID)
	if p.err != nil {
		return nil
	}
	if len(c) == 0 || c[len(c)-1]&0x80 != 0 {
		p.fail("OBJECT IDENTIFIER empty or truncated")
		return nil
	}
	n := 0 // bytes of the current arc so far
	for _, x := range c {
		if n == 0 && x == 0x80 || n == 4 {
			p.fail("OBJECT IDENTIFIER arc not minimal or over 28 bits")
			return nil
		}
		n++
		if x&0x80 == 0 {
			n = 0
		}
	}
	whole := start[:len(start)-len(*b)]
	return whole[:len(whole):len(whole)]
}
