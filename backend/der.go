package backend

import (
	"time"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/iana"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/types"
)

// A small DER encoder for the host's replies (EncAPRepPart, AP-REP,
// NegTokenResp and the GSS framing), byte for byte what gokrb5's
// reflection-based asn1.Marshal gives for the same values
// (TestDERMatchesGokrb5) at a tenth of its allocations: it encodes each
// value into a buffer sized in advance.

// DER identifier octets used here.
const (
	derInteger     = 0x02
	derOctetString = 0x04
	derOID         = 0x06
	derEnumerated  = 0x0a
	derGenTime     = 0x18
	derSequence    = 0x30
	derContext     = 0xa0 // constructed, context-specific: | tag
	derApplication = 0x60 // constructed, application: | tag (< 31)
)

// derLenSize is the size of a DER length field for n content bytes.
func derLenSize(n int) int {
	size := 1
	if n >= 0x80 {
		for ; n > 0; n >>= 8 {
			size++
		}
	}
	return size
}

// tlvSize is the encoded size of a value with n content bytes.
func tlvSize(n int) int { return 1 + derLenSize(n) + n }

// appendHeader appends an identifier octet and the length n.
func appendHeader(b []byte, tag byte, n int) []byte {
	b = append(b, tag)
	if n < 0x80 {
		return append(b, byte(n))
	}
	l := derLenSize(n) - 1
	b = append(b, 0x80|byte(l))
	for i := l - 1; i >= 0; i-- {
		b = append(b, byte(n>>(8*i)))
	}
	return b
}

// intSize is the content size of INTEGER v: minimal two's complement.
func intSize(v int64) int {
	n := 1
	for v > 127 || v < -128 {
		n++
		v >>= 8
	}
	return n
}

func appendInt(b []byte, tag byte, v int64) []byte {
	n := intSize(v)
	b = appendHeader(b, tag, n)
	for i := n - 1; i >= 0; i-- {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// explicitIntSize is the size of [tag] EXPLICIT INTEGER v.
func explicitIntSize(v int64) int { return tlvSize(tlvSize(intSize(v))) }

func appendExplicitInt(b []byte, tag int, v int64) []byte {
	b = appendHeader(b, derContext|byte(tag), tlvSize(intSize(v)))
	return appendInt(b, derInteger, v)
}

func explicitBytesSize(n int) int { return tlvSize(tlvSize(n)) }

func appendExplicitBytes(b []byte, tag int, v []byte) []byte {
	b = appendHeader(b, derContext|byte(tag), tlvSize(len(v)))
	b = appendHeader(b, derOctetString, len(v))
	return append(b, v...)
}

// genTimeLen is the size of a KerberosTime: YYYYMMDDHHMMSSZ.
const genTimeLen = 15

func appendGenTime(b []byte, t time.Time) []byte {
	b = appendHeader(b, derGenTime, genTimeLen)
	return t.UTC().AppendFormat(b, "20060102150405Z")
}

// encryptionKeySize is the content size of an EncryptionKey SEQUENCE.
func encryptionKeySize(k types.EncryptionKey) int {
	return explicitIntSize(int64(k.KeyType)) + explicitBytesSize(len(k.KeyValue))
}

func appendEncryptionKey(b []byte, k types.EncryptionKey) []byte {
	b = appendHeader(b, derSequence, encryptionKeySize(k))
	b = appendExplicitInt(b, 0, int64(k.KeyType))
	return appendExplicitBytes(b, 1, k.KeyValue)
}

// isZeroKey: asn1.Marshal omits an optional EncryptionKey equal to its zero
// value (a nil KeyValue; an empty non-nil one is sent).
func isZeroKey(k types.EncryptionKey) bool { return k.KeyType == 0 && k.KeyValue == nil }

// marshalEncAPRepPart is asn1.Marshal of an EncAPRepPart with its
// [APPLICATION 27] tag: ctime, cusec, then subkey and seq-number, each
// omitted when zero as asn1.Marshal omits optional zero values.
func marshalEncAPRepPart(ctime time.Time, cusec int, subkey types.EncryptionKey, seq int64) []byte {
	n := tlvSize(tlvSize(genTimeLen)) + explicitIntSize(int64(cusec))
	if !isZeroKey(subkey) {
		n += tlvSize(tlvSize(encryptionKeySize(subkey)))
	}
	if seq != 0 {
		n += explicitIntSize(seq)
	}
	b := make([]byte, 0, tlvSize(tlvSize(n)))
	b = appendHeader(b, derApplication|asnAppTag.EncAPRepPart, tlvSize(n))
	b = appendHeader(b, derSequence, n)
	b = appendHeader(b, derContext|0, tlvSize(genTimeLen))
	b = appendGenTime(b, ctime)
	b = appendExplicitInt(b, 1, int64(cusec))
	if !isZeroKey(subkey) {
		b = appendHeader(b, derContext|2, tlvSize(encryptionKeySize(subkey)))
		b = appendEncryptionKey(b, subkey)
	}
	if seq != 0 {
		b = appendExplicitInt(b, 3, seq)
	}
	return b
}

// encryptedDataSize is the content size of an EncryptedData SEQUENCE
// (kvno omitted when 0).
func encryptedDataSize(ed types.EncryptedData) int {
	n := explicitIntSize(int64(ed.EType)) + explicitBytesSize(len(ed.Cipher))
	if ed.KVNO != 0 {
		n += explicitIntSize(int64(ed.KVNO))
	}
	return n
}

// marshalAPRep is asn1.Marshal of an AP-REP carrying enc, with its
// [APPLICATION 15] tag.
func marshalAPRep(enc types.EncryptedData) []byte {
	ed := encryptedDataSize(enc)
	n := explicitIntSize(iana.PVNO) + explicitIntSize(msgtype.KRB_AP_REP) + tlvSize(tlvSize(ed))
	b := make([]byte, 0, tlvSize(tlvSize(n)))
	b = appendHeader(b, derApplication|asnAppTag.APREP, tlvSize(n))
	b = appendHeader(b, derSequence, n)
	b = appendExplicitInt(b, 0, iana.PVNO)
	b = appendExplicitInt(b, 1, msgtype.KRB_AP_REP)
	b = appendHeader(b, derContext|2, tlvSize(ed))
	b = appendHeader(b, derSequence, ed)
	b = appendExplicitInt(b, 0, int64(enc.EType))
	if enc.KVNO != 0 {
		b = appendExplicitInt(b, 1, int64(enc.KVNO))
	}
	return appendExplicitBytes(b, 2, enc.Cipher)
}

// gssFrameKRB5 is the RFC 2743 §3.1 framing of msg with the KRB5 OID
// (1.2.840.113554.1.2.2, DER below) and an RFC 4121 token ID.
func gssFrameKRB5(tokID, msg []byte) []byte {
	oid := derOIDKRB5
	n := len(oid) + len(tokID) + len(msg)
	b := make([]byte, 0, tlvSize(n))
	b = appendHeader(b, derApplication|0, n)
	return append(append(append(b, oid...), tokID...), msg...)
}

// The DER of oidKRB5 and oidMSKRB5 (TestDERMatchesGokrb5 checks them).
var (
	derOIDKRB5   = []byte{derOID, 9, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	derOIDMSKRB5 = []byte{derOID, 9, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// oidDER is the DER of a reply's supportedMech, nil for none.
func oidDER(oid asn1.ObjectIdentifier) ([]byte, error) {
	switch {
	case oid == nil:
		return nil, nil
	case oid.Equal(oidKRB5()):
		return derOIDKRB5, nil
	case oid.Equal(oidMSKRB5()):
		return derOIDMSKRB5, nil
	}
	return asn1.Marshal(oid)
}

// marshalNegTokenResp is spnego.NegTokenResp.Marshal of an
// accept-completed answer: negState, supportedMech (its DER, nil for
// none) and responseToken (omitted when empty), in the [1] choice tag.
func marshalNegTokenResp(negState int64, mechDER, token []byte) []byte {
	n := tlvSize(tlvSize(intSize(negState)))
	if mechDER != nil {
		n += tlvSize(len(mechDER))
	}
	if len(token) > 0 {
		n += explicitBytesSize(len(token))
	}
	b := make([]byte, 0, tlvSize(tlvSize(n)))
	b = appendHeader(b, derContext|1, tlvSize(n))
	b = appendHeader(b, derSequence, n)
	b = appendHeader(b, derContext|0, tlvSize(intSize(negState)))
	b = appendInt(b, derEnumerated, negState)
	if mechDER != nil {
		b = appendHeader(b, derContext|1, len(mechDER))
		b = append(b, mechDER...)
	}
	if len(token) > 0 {
		b = appendExplicitBytes(b, 2, token)
	}
	return b
}
