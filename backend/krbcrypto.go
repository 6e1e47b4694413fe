package backend

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/aescts/v2"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/rfc3961"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// The host's Kerberos encryption, for the enctypes every current KDC
// uses (RFC 3962: aes128/aes256-cts-hmac-sha1-96), done here rather than
// by gokrb5, whose key derivation n-folds the usage constant bit by bit
// on every call (two thirds of a logon's CPU, six derivations a logon).
// The n-folded constants depend only on the key usage, so they are
// computed once; the rest is RFC 3961 §5.3 / RFC 3962 as gokrb5 does it
// (TestRFC3962MatchesGokrb5 checks both ways). Other enctypes (RC4,
// aes-sha2, DES3) go to gokrb5.

const (
	aesBlock     = aes.BlockSize // cipher block and confounder size
	rfc3962MAC   = 12            // HMAC-SHA1-96
	usageKeyKe   = 0xAA          // RFC 3961 §5.3 encryption key constant
	usageKeyKi   = 0x55          // integrity key constant
	foldedUsages = 13            // usages 0..12 are precomputed
)

// folded holds n-fold(usage || Ke/Ki constant, 128) for usages 0..12:
// [usage][0] for Ke, [usage][1] for Ki.
var folded = func() (t [foldedUsages][2][aesBlock]byte) {
	for u := range t {
		copy(t[u][0][:], rfc3961.Nfold(usageConstant(uint32(u), usageKeyKe), aesBlock*8))
		copy(t[u][1][:], rfc3961.Nfold(usageConstant(uint32(u), usageKeyKi), aesBlock*8))
	}
	return t
}()

func usageConstant(usage uint32, kind byte) []byte {
	var b [5]byte
	binary.BigEndian.PutUint32(b[:4], usage)
	b[4] = kind
	return b[:]
}

// foldedConstant returns n-fold(usage || kind, 128): precomputed for the
// usages a host meets.
func foldedConstant(usage uint32, kind byte) [aesBlock]byte {
	i := 0
	if kind == usageKeyKi {
		i = 1
	}
	if usage < foldedUsages {
		return folded[usage][i]
	}
	var f [aesBlock]byte
	copy(f[:], rfc3961.Nfold(usageConstant(usage, kind), aesBlock*8))
	return f
}

// isRFC3962 reports whether etype is done here.
func isRFC3962(etype int32) bool {
	return etype == etypeID.AES128_CTS_HMAC_SHA1_96 || etype == etypeID.AES256_CTS_HMAC_SHA1_96
}

// aesKeySize is the key size of an RFC 3962 enctype; a key of another
// size goes to gokrb5, which refuses it.
func aesKeySize(etype int32) int {
	if etype == etypeID.AES128_CTS_HMAC_SHA1_96 {
		return 16
	}
	return 32
}

// deriveKey is RFC 3961 DK(base, usage || kind) for AES: the n-folded
// constant encrypted, then each block encrypted again, to the key size
// (random-to-key is the identity for AES). dst has the base key's size.
func deriveKey(dst, base []byte, usage uint32, kind byte) error {
	c, err := aes.NewCipher(base)
	if err != nil {
		return err
	}
	deriveWith(c, dst, usage, kind, make([]byte, aesBlock))
	return nil
}

// deriveWith is deriveKey with the base key's cipher c and a block of
// scratch space (a cipher's arguments escape: scratch saves an allocation).
func deriveWith(c cipher.Block, dst []byte, usage uint32, kind byte, blk []byte) {
	f := foldedConstant(usage, kind)
	copy(blk, f[:])
	for i := 0; i < len(dst); i += aesBlock {
		c.Encrypt(blk, blk)
		copy(dst[i:], blk)
	}
}

// rfc3962Scratch is the space decryptRFC3962 needs besides the plaintext:
// Ke and Ki (up to 32 bytes each), and three blocks for the ciphers.
const rfc3962Scratch = 2*32 + 3*aesBlock

// deriveKeKi derives the encryption and integrity keys for usage from
// base into ke and ki (each of base's size), with one cipher; blk is a
// block of scratch space.
func deriveKeKi(ke, ki, base []byte, usage uint32, blk []byte) error {
	c, err := aes.NewCipher(base)
	if err != nil {
		return err
	}
	deriveWith(c, ke, usage, usageKeyKe, blk)
	deriveWith(c, ki, usage, usageKeyKi, blk)
	return nil
}

// ctsDecrypt is RFC 3962's AES-CTS decryption with a zero IV into out
// (len(ct) bytes), as aescts.Decrypt does it: CBC, except that the last
// two ciphertext blocks come swapped and the last is cut to the last
// plaintext block's size. len(ct) >= aesBlock; scratch holds three blocks.
func ctsDecrypt(c cipher.Block, out, ct, scratch []byte) {
	if len(ct) == aesBlock {
		c.Decrypt(out, ct)
		return
	}
	m := (len(ct) + aesBlock - 1) / aesBlock // blocks
	r := len(ct) - aesBlock*(m-1)            // bytes of the last block, 1..16
	head := aesBlock * (m - 2)               // bytes before the last two blocks
	prev := scratch[2*aesBlock : 3*aesBlock] // the IV, then C(m-2)
	clear(prev)
	if head > 0 {
		cipher.NewCBCDecrypter(c, prev).CryptBlocks(out[:head], ct[:head])
		copy(prev, ct[head-aesBlock:head])
	}
	// ct[head:head+16] is C(m), ct[head+16:] the first r bytes of C(m-1).
	d, y := scratch[:aesBlock], scratch[aesBlock:2*aesBlock]
	c.Decrypt(d, ct[head:head+aesBlock]) // P(m) zero-padded, xor C(m-1)
	copy(y, ct[head+aesBlock:])
	copy(y[r:], d[r:]) // y = C(m-1)
	for i := range r {
		out[head+aesBlock+i] = d[i] ^ y[i]
	}
	c.Decrypt(out[head:head+aesBlock], y)
	for i := range aesBlock {
		out[head+i] ^= prev[i]
	}
}

// decryptEncPart decrypts ed with key for usage, as crypto.DecryptEncPart.
func decryptEncPart(ed types.EncryptedData, key types.EncryptionKey, usage uint32) ([]byte, error) {
	if !isRFC3962(key.KeyType) || len(key.KeyValue) != aesKeySize(key.KeyType) {
		return crypto.DecryptEncPart(ed, key, usage)
	}
	b, err := decryptRFC3962(key.KeyValue, ed.Cipher, usage)
	if err != nil {
		return nil, fmt.Errorf("error decrypting: %w", err)
	}
	return b, nil
}

var errIntegrity = errors.New("integrity verification failed")

// decryptRFC3962 returns the plaintext of ct, without its confounder. It
// allocates once: the plaintext, after the scratch space of the derived
// keys, which is cleared before returning.
func decryptRFC3962(base, ct []byte, usage uint32) ([]byte, error) {
	if len(ct) < aesBlock+rfc3962MAC {
		return nil, fmt.Errorf("ciphertext of %d bytes is too short", len(ct))
	}
	buf := make([]byte, rfc3962Scratch+len(ct)-rfc3962MAC)
	scratch, pt := buf[:rfc3962Scratch:rfc3962Scratch], buf[rfc3962Scratch:]
	defer clear(scratch)
	ke, ki, blocks := scratch[:len(base)], scratch[32:32+len(base)], scratch[64:]
	if err := deriveKeKi(ke, ki, base, usage, blocks); err != nil {
		return nil, err
	}
	c, err := aes.NewCipher(ke)
	if err != nil {
		return nil, err
	}
	ctsDecrypt(c, pt, ct[:len(ct)-rfc3962MAC], blocks)
	mac := hmac.New(sha1.New, ki)
	mac.Write(pt)
	sum := mac.Sum(blocks[:0]) // 20 bytes, in the blocks' room
	if !hmac.Equal(sum[:rfc3962MAC], ct[len(ct)-rfc3962MAC:]) {
		return nil, errIntegrity
	}
	return pt[aesBlock:len(pt):len(pt)], nil
}

// encryptedData encrypts plain with key for usage, as crypto.GetEncryptedData.
func encryptedData(plain []byte, key types.EncryptionKey, usage uint32, kvno int) (types.EncryptedData, error) {
	if !isRFC3962(key.KeyType) || len(key.KeyValue) != aesKeySize(key.KeyType) {
		return crypto.GetEncryptedData(plain, key, usage, kvno)
	}
	ct, err := encryptRFC3962(key.KeyValue, plain, usage)
	if err != nil {
		return types.EncryptedData{}, fmt.Errorf("encrypt: %w", err)
	}
	return types.EncryptedData{EType: key.KeyType, Cipher: ct, KVNO: kvno}, nil
}

func encryptRFC3962(base, plain []byte, usage uint32) ([]byte, error) {
	var kbuf [rfc3962Scratch]byte
	ke, ki := kbuf[:len(base)], kbuf[32:32+len(base)]
	if err := deriveKeKi(ke, ki, base, usage, kbuf[64:]); err != nil {
		return nil, err
	}
	msg := make([]byte, aesBlock+len(plain))
	if _, err := rand.Read(msg[:aesBlock]); err != nil {
		return nil, fmt.Errorf("confounder: %w", err)
	}
	copy(msg[aesBlock:], plain)
	var iv [aesBlock]byte
	_, ct, err := aescts.Encrypt(ke, iv[:], msg)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha1.New, ki)
	mac.Write(msg)
	var sum [sha1.Size]byte
	return append(ct, mac.Sum(sum[:0])[:rfc3962MAC]...), nil
}

// authenticatorUsage is gokrb5's choice of key usage for an AP-REQ's
// authenticator (messages.APReq.DecryptAuthenticator).
func authenticatorUsage(sname types.PrincipalName) uint32 {
	if len(sname.NameString) > 0 && sname.NameString[0] == "krbtgt" {
		return keyusage.TGS_REQ_PA_TGS_REQ_AP_REQ_AUTHENTICATOR
	}
	return keyusage.AP_REQ_AUTHENTICATOR
}
