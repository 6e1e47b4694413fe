package backend

import (
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"
)

// A small strict DER decoder for what a host reads on every logon: the
// GSS KRB5 token around an AP-REQ, its Ticket, the decrypted EncTicketPart
// and Authenticator (RFC 4120 §5.3, §5.5.1, RFC 4121 §4.1). It fills
// gokrb5's own types, as their reflection-based Unmarshal does, with a
// few allocations instead of two hundred. It is stricter than gokrb5:
// every length must be minimal and inside its parent, every element must
// carry its exact identifier (strings GeneralString, times
// "YYYYMMDDHHMMSSZ"), and no element or byte may follow the last field of
// a SEQUENCE or a message. What it accepts, gokrb5 accepts with the same
// fields (FuzzDecodeAPReq).

// DER identifier octets read here, besides der.go's.
const (
	derBitString     = 0x03
	derGeneralString = 0x1b
)

// errDERShort is a length past the end of its parent.
var errDERShort = errors.New("DER: element runs past its parent")

// derParser decodes elements from byte slices, keeping the first error:
// once one is set, every call returns zero values.
type derParser struct{ err error }

func (p *derParser) fail(format string, a ...any) {
	if p.err == nil {
		p.err = fmt.Errorf("DER: "+format, a...)
	}
}

// derLen reads a DER length: short form, or long form of at most 4
// minimal bytes. size is the length field's own size.
func derLen(b []byte) (n, size int, err error) {
	if len(b) == 0 {
		return 0, 0, errDERShort
	}
	if b[0] < 0x80 {
		return int(b[0]), 1, nil
	}
	k := int(b[0] & 0x7f)
	switch {
	case k == 0:
		return 0, 0, errors.New("DER: indefinite length")
	case k > 4 || len(b) < 1+k:
		return 0, 0, errDERShort
	case b[1] == 0:
		return 0, 0, errors.New("DER: length with a leading zero")
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0x80 {
		return 0, 0, errors.New("DER: long form of a short length")
	}
	return n, 1 + k, nil
}

// elem takes the element at the front of *b, whose identifier must be
// tag, and returns its contents.
func (p *derParser) elem(b *[]byte, tag byte) []byte {
	if p.err != nil {
		return nil
	}
	in := *b
	if len(in) == 0 {
		p.fail("element %#02x missing", tag)
		return nil
	}
	if in[0] != tag {
		p.fail("identifier %#02x where %#02x belongs", in[0], tag)
		return nil
	}
	n, size, err := derLen(in[1:])
	if err == nil && n > len(in)-1-size {
		err = errDERShort
	}
	if err != nil {
		p.err = err
		return nil
	}
	start := 1 + size
	*b = in[start+n:]
	return in[start : start+n : start+n]
}

// has reports whether the element at the front of b has identifier tag:
// whether an OPTIONAL field is present.
func has(b []byte, tag byte) bool { return len(b) > 0 && b[0] == tag }

// end refuses bytes left after the last element of what.
func (p *derParser) end(b []byte, what string) {
	if p.err == nil && len(b) > 0 {
		p.fail("%d bytes after the end of %s", len(b), what)
	}
}

// explicit reads [n] EXPLICIT holding exactly one element of identifier
// tag, and returns that element's contents.
func (p *derParser) explicit(b *[]byte, n, tag byte) []byte {
	outer := p.elem(b, derContext|n)
	c := p.elem(&outer, tag)
	p.end(outer, "an explicit tag")
	return c
}

// int64 decodes INTEGER contents: minimal, at most 8 bytes.
func (p *derParser) int64(c []byte) int64 {
	if p.err != nil {
		return 0
	}
	switch {
	case len(c) == 0:
		p.fail("empty INTEGER")
		return 0
	case len(c) > 8:
		p.fail("INTEGER over 64 bits")
		return 0
	case len(c) > 1 && (c[0] == 0 && c[1]&0x80 == 0 || c[0] == 0xff && c[1]&0x80 != 0):
		p.fail("INTEGER not minimal")
		return 0
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v
}

func (p *derParser) int32(c []byte) int32 {
	v := p.int64(c)
	if v != int64(int32(v)) {
		p.fail("INTEGER over 32 bits")
		return 0
	}
	return int32(v)
}

// KerberosTime contents: "YYYYMMDDHHMMSSZ", a valid UTC date.
func (p *derParser) time(c []byte) time.Time {
	if p.err != nil {
		return time.Time{}
	}
	var d [14]int
	if len(c) != 15 || c[14] != 'Z' {
		p.fail("KerberosTime %q is not YYYYMMDDHHMMSSZ", c)
		return time.Time{}
	}
	for i := range d {
		if c[i] < '0' || c[i] > '9' {
			p.fail("KerberosTime %q is not YYYYMMDDHHMMSSZ", c)
			return time.Time{}
		}
		d[i] = int(c[i] - '0')
	}
	year, mon, day := d[0]*1000+d[1]*100+d[2]*10+d[3], d[4]*10+d[5], d[6]*10+d[7]
	hour, min, sec := d[8]*10+d[9], d[10]*10+d[11], d[12]*10+d[13]
	t := time.Date(year, time.Month(mon), day, hour, min, sec, 0, time.UTC)
	if t.Year() != year || int(t.Month()) != mon || t.Day() != day || hour > 23 || min > 59 || sec > 59 {
		p.fail("KerberosTime %q is not a valid date", c)
		return time.Time{}
	}
	return t
}

// bitString decodes BIT STRING contents: padding bits 0..7, zero.
func (p *derParser) bitString(c []byte) asn1.BitString {
	if p.err != nil {
		return asn1.BitString{}
	}
	if len(c) == 0 || c[0] > 7 || len(c) == 1 && c[0] > 0 || c[len(c)-1]&(1<<c[0]-1) != 0 {
		p.fail("invalid BIT STRING")
		return asn1.BitString{}
	}
	return asn1.BitString{Bytes: c[1:], BitLength: (len(c)-1)*8 - int(c[0])}
}

func (p *derParser) int32Field(b *[]byte, n byte) int32 { return p.int32(p.explicit(b, n, derInteger)) }
func (p *derParser) intField(b *[]byte, n byte) int {
	return int(p.int64(p.explicit(b, n, derInteger)))
}
func (p *derParser) bytesField(b *[]byte, n byte) []byte {
	return p.explicit(b, n, derOctetString)
}
func (p *derParser) stringField(b *[]byte, n byte) string {
	return string(p.explicit(b, n, derGeneralString))
}
func (p *derParser) timeField(b *[]byte, n byte) time.Time {
	return p.time(p.explicit(b, n, derGenTime))
}

// seqField reads [n] EXPLICIT SEQUENCE and returns the SEQUENCE's contents.
func (p *derParser) seqField(b *[]byte, n byte) []byte { return p.explicit(b, n, derSequence) }

// principalName decodes PrincipalName from a SEQUENCE's contents.
func (p *derParser) principalName(c []byte) types.PrincipalName {
	var pn types.PrincipalName
	pn.NameType = p.int32Field(&c, 0)
	names := p.seqField(&c, 1)
	p.end(c, "PrincipalName")
	pn.NameString = make([]string, 0, 2)
	for p.err == nil && len(names) > 0 {
		pn.NameString = append(pn.NameString, string(p.elem(&names, derGeneralString)))
	}
	return pn
}

// encryptedData decodes EncryptedData from a SEQUENCE's contents.
func (p *derParser) encryptedData(c []byte) types.EncryptedData {
	var ed types.EncryptedData
	ed.EType = p.int32Field(&c, 0)
	if has(c, derContext|1) {
		ed.KVNO = p.intField(&c, 1)
	}
	ed.Cipher = p.bytesField(&c, 2)
	p.end(c, "EncryptedData")
	return ed
}

// typedBytes decodes the SEQUENCE { [0] Int32, [1] OCTET STRING } shape
// of EncryptionKey, Checksum, TransitedEncoding, HostAddress and
// AuthorizationData entries.
func (p *derParser) typedBytes(c []byte, what string) (int32, []byte) {
	t := p.int32Field(&c, 0)
	v := p.bytesField(&c, 1)
	p.end(c, what)
	return t, v
}

func (p *derParser) encryptionKey(c []byte) types.EncryptionKey {
	t, v := p.typedBytes(c, "EncryptionKey")
	return types.EncryptionKey{KeyType: t, KeyValue: v}
}

// hostAddresses decodes SEQUENCE OF HostAddress contents.
func (p *derParser) hostAddresses(c []byte) types.HostAddresses {
	out := make(types.HostAddresses, 0, 1)
	for p.err == nil && len(c) > 0 {
		t, v := p.typedBytes(p.elem(&c, derSequence), "HostAddress")
		out = append(out, types.HostAddress{AddrType: t, Address: v})
	}
	return out
}

// authorizationData decodes SEQUENCE OF AuthorizationData entry contents.
func (p *derParser) authorizationData(c []byte) types.AuthorizationData {
	out := make(types.AuthorizationData, 0, 1)
	for p.err == nil && len(c) > 0 {
		t, v := p.typedBytes(p.elem(&c, derSequence), "AuthorizationData")
		out = append(out, types.AuthorizationDataEntry{ADType: t, ADData: v})
	}
	return out
}

// message returns the SEQUENCE inside [APPLICATION app], which must
// fill b.
func (p *derParser) message(b []byte, app byte, what string) []byte {
	outer := p.elem(&b, derApplication|app)
	p.end(b, what)
	c := p.elem(&outer, derSequence)
	p.end(outer, what)
	return c
}

// decodeKRB5APReq decodes a GSS KRB5 token (RFC 4121 §4.1: [APPLICATION
// 0] IMPLICIT { KRB5 OID, TOK_ID 01 00, AP-REQ }) that must fill b. Only
// the standard KRB5 OID is taken there, as by gokrb5's KRB5Token.
func decodeKRB5APReq(b []byte) (*messages.APReq, error) {
	var p derParser
	c := p.elem(&b, derApplication)
	p.end(b, "the GSS token")
	if p.err != nil {
		return nil, p.err
	}
	if len(c) < len(derOIDKRB5)+2 || string(c[:len(derOIDKRB5)]) != string(derOIDKRB5) {
		return nil, errors.New("not a KRB5 mechanism token")
	}
	c = c[len(derOIDKRB5):]
	if c[0] != 0x01 || c[1] != 0x00 {
		return nil, errNotAPReq
	}
	return decodeAPReq(c[2:])
}

var errNotAPReq = errors.New("KRB5 token is not an AP-REQ")

// decodeAPReq decodes AP-REQ (RFC 4120 §5.5.1) that must fill b; the
// ticket's encrypted part and the authenticator stay encrypted.
func decodeAPReq(b []byte) (*messages.APReq, error) {
	var p derParser
	req := new(messages.APReq)
	c := p.message(b, 14, "AP-REQ")
	req.PVNO = p.intField(&c, 0)
	req.MsgType = p.intField(&c, 1)
	if p.err == nil && req.MsgType != msgtype.KRB_AP_REQ {
		return nil, fmt.Errorf("message type %d is not KRB_AP_REQ", req.MsgType)
	}
	req.APOptions = p.bitString(p.explicit(&c, 2, derBitString))
	tkt := p.elem(&c, derContext|3)
	req.EncryptedAuthenticator = p.encryptedData(p.seqField(&c, 4))
	p.end(c, "AP-REQ")
	if p.err != nil {
		return nil, p.err
	}
	t := &req.Ticket
	tc := p.message(tkt, 1, "Ticket")
	t.TktVNO = p.intField(&tc, 0)
	t.Realm = p.stringField(&tc, 1)
	t.SName = p.principalName(p.seqField(&tc, 2))
	t.EncPart = p.encryptedData(p.seqField(&tc, 3))
	p.end(tc, "Ticket")
	if p.err != nil {
		return nil, fmt.Errorf("ticket: %w", p.err)
	}
	return req, nil
}

// decodeEncTicketPart decodes a decrypted EncTicketPart (RFC 4120 §5.3)
// that must fill b into e.
func decodeEncTicketPart(b []byte, e *messages.EncTicketPart) error {
	var p derParser
	c := p.message(b, 3, "EncTicketPart")
	e.Flags = p.bitString(p.explicit(&c, 0, derBitString))
	e.Key = p.encryptionKey(p.seqField(&c, 1))
	e.CRealm = p.stringField(&c, 2)
	e.CName = p.principalName(p.seqField(&c, 3))
	e.Transited.TRType, e.Transited.Contents = p.typedBytes(p.seqField(&c, 4), "TransitedEncoding")
	e.AuthTime = p.timeField(&c, 5)
	if has(c, derContext|6) {
		e.StartTime = p.timeField(&c, 6)
	}
	e.EndTime = p.timeField(&c, 7)
	if has(c, derContext|8) {
		e.RenewTill = p.timeField(&c, 8)
	}
	if has(c, derContext|9) {
		e.CAddr = p.hostAddresses(p.seqField(&c, 9))
	}
	if has(c, derContext|10) {
		e.AuthorizationData = p.authorizationData(p.seqField(&c, 10))
	}
	p.end(c, "EncTicketPart")
	return p.err
}

// decodeAuthenticator decodes a decrypted Authenticator (RFC 4120
// §5.5.1) that must fill b into a.
func decodeAuthenticator(b []byte, a *types.Authenticator) error {
	var p derParser
	c := p.message(b, 2, "Authenticator")
	a.AVNO = p.intField(&c, 0)
	a.CRealm = p.stringField(&c, 1)
	a.CName = p.principalName(p.seqField(&c, 2))
	if has(c, derContext|3) {
		t, v := p.typedBytes(p.seqField(&c, 3), "Checksum")
		a.Cksum = types.Checksum{CksumType: t, Checksum: v}
	}
	a.Cusec = p.intField(&c, 4)
	a.CTime = p.timeField(&c, 5)
	if has(c, derContext|6) {
		a.SubKey = p.encryptionKey(p.seqField(&c, 6))
	}
	if has(c, derContext|7) {
		a.SeqNumber = p.int64(p.explicit(&c, 7, derInteger))
	}
	if has(c, derContext|8) {
		a.AuthorizationData = p.authorizationData(p.seqField(&c, 8))
	}
	p.end(c, "Authenticator")
	return p.err
}
