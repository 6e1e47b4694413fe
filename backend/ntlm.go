package backend

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	arc4 "crypto/rc4"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"golang.org/x/crypto/md4"
)

// NTLM message types (MS-NLMP 2.2.1).
const (
	ntlmTypeNegotiate    = 1
	ntlmTypeChallenge    = 2
	ntlmTypeAuthenticate = 3
)

// NTLM negotiate flags this host uses (MS-NLMP 2.2.2.5).
const (
	ntlmFlagUnicode          = 0x00000001
	ntlmFlagRequestTarget    = 0x00000004
	ntlmFlagSign             = 0x00000010
	ntlmFlagSeal             = 0x00000020
	ntlmFlagNTLM             = 0x00000200
	ntlmFlagAlwaysSign       = 0x00008000
	ntlmFlagTargetTypeDomain = 0x00010000
	ntlmFlagExtendedSecurity = 0x00080000
	ntlmFlagTargetInfo       = 0x00800000
	ntlmFlagVersion          = 0x02000000
	ntlmFlag128              = 0x20000000
	ntlmFlagKeyExch          = 0x40000000
	ntlmFlag56               = 0x80000000
)

// ntlmChallengeMaxAge is how long an NTLM challenge waits for its answer.
const ntlmChallengeMaxAge = 2 * time.Minute

// ntlmMessageType returns the type of an NTLMSSP message, 0 if it is none.
func ntlmMessageType(b []byte) uint32 {
	if !isNTLM(b) || len(b) < 12 {
		return 0
	}
	return binary.LittleEndian.Uint32(b[8:12])
}

// ntlmFlags returns a NEGOTIATE or AUTHENTICATE message's flags (0 if absent).
func ntlmFlags(b []byte, off int) uint32 {
	if len(b) < off+4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b[off:])
}

// ntlmAuthenticate is the part of an AUTHENTICATE_MESSAGE the host checks.
type ntlmAuthenticate struct {
	Domain, User, Workstation string
	NTResponse                []byte
	SessionKey                []byte // EncryptedRandomSessionKey (with KEY_EXCH)
	Flags                     uint32 // NegotiateFlags; 0 in a message too short to hold them
}

// parseNTLMAuthenticate decodes an AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3),
// checking every field's bounds.
func parseNTLMAuthenticate(b []byte) (*ntlmAuthenticate, error) {
	if ntlmMessageType(b) != ntlmTypeAuthenticate || len(b) < 52 {
		return nil, errors.New("not an NTLM AUTHENTICATE message")
	}
	unicode := len(b) < 64 || ntlmFlags(b, 60)&ntlmFlagUnicode != 0
	var bufs [4][]byte // NtChallengeResponse, DomainName, UserName, Workstation
	for i, off := range []int{20, 28, 36, 44} {
		v, err := secBuf(b, off)
		if err != nil {
			return nil, err
		}
		bufs[i] = v
	}
	a := &ntlmAuthenticate{Flags: ntlmFlags(b, 60)}
	if len(b) >= 64 {
		k, err := secBuf(b, 52)
		if err != nil {
			return nil, err
		}
		a.SessionKey = k
	}
	a.NTResponse = bufs[0]
	a.Domain = ntlmString(bufs[1], unicode)
	a.User = ntlmString(bufs[2], unicode)
	a.Workstation = ntlmString(bufs[3], unicode)
	return a, nil
}

// secBuf returns the payload a security buffer header at off points to.
func secBuf(b []byte, off int) ([]byte, error) {
	if len(b) < off+8 {
		return nil, fmt.Errorf("NTLM message truncated at field offset %d", off)
	}
	n := int64(binary.LittleEndian.Uint16(b[off:]))
	at := int64(binary.LittleEndian.Uint32(b[off+4:]))
	if at > int64(len(b)) || n > int64(len(b))-at {
		return nil, fmt.Errorf("NTLM field at offset %d points outside the message", off)
	}
	return b[at : at+n], nil
}

func ntlmString(b []byte, unicode bool) string {
	if !unicode {
		return string(b)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	return b
}

// ntlmNames are the names a host gives in its CHALLENGE_MESSAGE.
type ntlmNames struct {
	Domain    string // NetBIOS domain, e.g. KRBFARM
	Computer  string // NetBIOS computer name, e.g. SERVER1
	DNSDomain string // e.g. krbfarm.localhost
}

func newNTLMNames(host, realm string) ntlmNames {
	n := ntlmNames{Domain: "WORKGROUP", Computer: strings.ToUpper(host)}
	if realm != "" {
		first, _, _ := strings.Cut(realm, ".")
		n.Domain, n.DNSDomain = strings.ToUpper(first), strings.ToLower(realm)
	}
	return n
}

// buildNTLMChallenge returns a CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2) with
// the server challenge and the target info NTLMv2 clients need.
func buildNTLMChallenge(challenge []byte, clientFlags uint32, names ntlmNames, now time.Time) []byte {
	flags := uint32(ntlmFlagUnicode | ntlmFlagRequestTarget | ntlmFlagNTLM | ntlmFlagAlwaysSign |
		ntlmFlagTargetTypeDomain | ntlmFlagExtendedSecurity | ntlmFlagTargetInfo | ntlmFlagVersion |
		ntlmFlag128 | ntlmFlag56)
	// What Windows grants when asked (MS-NLMP 3.2.5.1.1): gss-ntlmssp
	// gives up ("A required Negotiate flag was not provided") when the
	// SIGN it asked for is not returned. HTTP never signs or seals after
	// the logon, so granting them changes nothing here.
	flags |= clientFlags & (ntlmFlagKeyExch | ntlmFlagSign | ntlmFlagSeal)
	target := utf16le(names.Domain)
	info := targetInfo(names, now)
	const hdr = 56
	b := make([]byte, hdr, hdr+len(target)+len(info))
	copy(b, ntlmSignature)
	binary.LittleEndian.PutUint32(b[8:], ntlmTypeChallenge)
	putSecBuf(b[12:], len(target), hdr)
	binary.LittleEndian.PutUint32(b[20:], flags)
	copy(b[24:32], challenge)
	putSecBuf(b[40:], len(info), hdr+len(target))
	copy(b[48:], []byte{10, 0, 0x63, 0x45, 0, 0, 0, 0x0F}) // Windows 10.0 build 17763, NTLMSSP revision 15
	return append(append(b, target...), info...)
}

func putSecBuf(b []byte, n, off int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(n))
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], uint32(off))
}

// targetInfo is the AV_PAIR list (MS-NLMP 2.2.2.1) of a CHALLENGE_MESSAGE.
func targetInfo(n ntlmNames, now time.Time) []byte {
	var b []byte
	pair := func(id uint16, v []byte) {
		b = binary.LittleEndian.AppendUint16(b, id)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	pair(2, utf16le(n.Domain))   // MsvAvNbDomainName
	pair(1, utf16le(n.Computer)) // MsvAvNbComputerName
	if n.DNSDomain != "" {
		pair(4, utf16le(n.DNSDomain))                                 // MsvAvDnsDomainName
		pair(3, utf16le(strings.ToLower(n.Computer)+"."+n.DNSDomain)) // MsvAvDnsComputerName
	}
	pair(7, binary.LittleEndian.AppendUint64(nil, fileTime(now))) // MsvAvTimestamp
	pair(0, nil)                                                  // MsvAvEOL
	return b
}

// fileTime is t as a Windows FILETIME: 100 ns ticks since 1601.
func fileTime(t time.Time) uint64 {
	const epochDiff = 116444736000000000
	return uint64(t.UnixNano()/100) + epochDiff
}

// NTHash is the NT one-way function of a password: MD4 of its UTF-16LE
// encoding, the key a domain controller holds for NTLM.
func NTHash(password string) []byte {
	h := md4.New()
	h.Write(utf16le(password))
	return h.Sum(nil)
}

func hmacMD5(key []byte, parts ...[]byte) []byte {
	m := hmac.New(md5.New, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// ntowfv2 is the response key of a's user: HMAC-MD5(NT hash,
// UTF-16LE(upper(user) + domain)) (MS-NLMP 3.3.2).
func ntowfv2(ntHash []byte, a *ntlmAuthenticate) []byte {
	return hmacMD5(ntHash, utf16le(strings.ToUpper(a.User)+a.Domain))
}

// ntlmv2Valid checks an NTLMv2 response (MS-NLMP 3.3.2): NTProofStr is
// HMAC-MD5(NTOWFv2, server challenge + the client's blob), where NTOWFv2 is
// HMAC-MD5(NT hash, UTF-16LE(upper(user) + domain)).
func ntlmv2Valid(ntHash []byte, a *ntlmAuthenticate, challenge []byte) bool {
	proof := hmacMD5(ntowfv2(ntHash, a), challenge, a.NTResponse[16:])
	return hmac.Equal(proof, a.NTResponse[:16])
}

// The AV pairs Extended Protection reads (MS-NLMP 2.2.2.1).
const (
	avEOL             = 0x0000 // MsvAvEOL
	avFlags           = 0x0006 // MsvAvFlags, a little-endian uint32
	avTargetName      = 0x0009 // MsvAvTargetName: the SPN the client meant, UTF-16LE
	avChannelBindings = 0x000A // MsvAvChannelBindings: MD5 of gss_channel_bindings_struct
)

// ntlmClientAV is what Extended Protection reads from the AV pairs of an
// NTLMv2 response: the channel bindings hash (all zero when the client
// has none) and the target name ("" when absent). The response's
// NTProofStr covers them, so they are the client's once it verifies.
type ntlmClientAV struct {
	bindings [16]byte
	target   string
	flags    uint32 // MsvAvFlags: avFlagMIC says the AUTHENTICATE carries a MIC
}

// avFlagMIC is the MsvAvFlags bit saying the AUTHENTICATE carries a MIC.
const avFlagMIC = 0x00000002

// ntlmv2Pairs reads the AV pairs of an NTLMv2 response's client challenge
// (MS-NLMP 2.2.2.7: NTResponse after its 16-byte NTProofStr; 28 bytes of
// header, then pairs up to MsvAvEOL). A list cut short ends where it
// breaks; a pair of the wrong size is ignored.
func ntlmv2Pairs(ntResponse []byte) ntlmClientAV {
	var av ntlmClientAV
	const hdr = 16 + 28
	if len(ntResponse) < hdr {
		return av
	}
	b := ntResponse[hdr:]
	for len(b) >= 4 {
		id, n := binary.LittleEndian.Uint16(b), int(binary.LittleEndian.Uint16(b[2:]))
		if id == avEOL || len(b) < 4+n {
			break
		}
		v := b[4 : 4+n]
		switch {
		case id == avChannelBindings && n == 16:
			copy(av.bindings[:], v)
		case id == avTargetName && n%2 == 0:
			av.target = ntlmString(v, true)
		case id == avFlags && n == 4:
			av.flags = binary.LittleEndian.Uint32(v)
		}
		b = b[4+n:]
	}
	return av
}

// micOffset is where an AUTHENTICATE_MESSAGE holds its MIC: after the
// 64-byte header and the 8-byte Version (MS-NLMP 2.2.1.3).
const micOffset = 72

// ntlmMICValid checks the MIC of an AUTHENTICATE (msg, parsed as a) whose
// NTLMv2 response has already verified against ntHash (MS-NLMP 3.2.5.1.2,
// 3.1.5.1.2): HMAC-MD5 under the exported session key over the
// NEGOTIATE, the CHALLENGE and the AUTHENTICATE with its MIC zeroed. The
// session key is HMAC-MD5(NTOWFv2, NTProofStr), or with KEY_EXCH the
// client's random key, RC4-encrypted under it.
func ntlmMICValid(ntHash []byte, a *ntlmAuthenticate, msg []byte, p ntlmPending) bool {
	if len(msg) < micOffset+16 || p.negotiate == nil || p.challMsg == nil {
		return false
	}
	exported := hmacMD5(ntowfv2(ntHash, a), a.NTResponse[:16]) // SessionBaseKey = KeyExchangeKey for NTLMv2
	if a.Flags&ntlmFlagKeyExch != 0 {
		if len(a.SessionKey) != 16 {
			return false
		}
		c, err := arc4.NewCipher(exported)
		if err != nil {
			return false
		}
		random := make([]byte, 16)
		c.XORKeyStream(random, a.SessionKey)
		exported = random
	}
	zeroed := bytes.Clone(msg)
	clear(zeroed[micOffset : micOffset+16])
	want := hmacMD5(exported, p.negotiate, p.challMsg, zeroed)
	return hmac.Equal(want, msg[micOffset:micOffset+16])
}
