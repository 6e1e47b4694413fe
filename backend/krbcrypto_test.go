package backend

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/jcmturner/aescts/v2"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/crypto/common"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/types"
)

// TestRFC3962MatchesGokrb5: this package's AES encryption and gokrb5's
// read each other's output, derive the same keys, and a flipped bit fails
// integrity; usage 1023 is not precomputed.
func TestRFC3962MatchesGokrb5(t *testing.T) {
	plain := []byte("an EncAPRepPart, or anything of any length: 0123456789")
	for _, et := range []int32{etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96, rc4} {
		e, err := crypto.GetEtype(et)
		if err != nil {
			t.Fatal(err)
		}
		key, err := types.GenerateEncryptionKey(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, usage := range []uint32{2, 7, 11, 12, 1023} {
			if isRFC3962(et) {
				checkDerive(t, e, key.KeyValue, usage)
			}
			for n := range len(plain) + 1 {
				checkRoundTrip(t, key, usage, plain[:n])
			}
		}
	}
}

func checkDerive(t *testing.T, e interface {
	DeriveKey([]byte, []byte) ([]byte, error)
}, base []byte, usage uint32) {
	t.Helper()
	for _, kind := range []byte{usageKeyKe, usageKeyKi} {
		want, err := e.DeriveKey(base, usageConstant(usage, kind))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(base))
		if err := deriveKey(got, base, usage, kind); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("usage %d kind %#x: derived key differs from gokrb5's (err %v)", usage, kind, err)
		}
	}
	if !bytes.Equal(usageConstant(usage, usageKeyKe), common.GetUsageKe(usage)) {
		t.Fatalf("usage %d: constant differs from gokrb5's", usage)
	}
}

func checkRoundTrip(t *testing.T, key types.EncryptionKey, usage uint32, plain []byte) {
	t.Helper()
	ours, err := encryptedData(plain, key, usage, 3)
	if err != nil || ours.EType != key.KeyType || ours.KVNO != 3 {
		t.Fatalf("etype %d usage %d: encryptedData %+v, %v", key.KeyType, usage, ours, err)
	}
	if got, err := crypto.DecryptEncPart(ours, key, usage); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("etype %d usage %d len %d: gokrb5 cannot read ours: %q, %v", key.KeyType, usage, len(plain), got, err)
	}
	theirs, err := crypto.GetEncryptedData(plain, key, usage, 3)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decryptEncPart(theirs, key, usage); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("etype %d usage %d len %d: we cannot read gokrb5's: %q, %v", key.KeyType, usage, len(plain), got, err)
	}
	if _, err := decryptEncPart(theirs, key, usage+1); err == nil {
		t.Fatalf("etype %d usage %d: decrypted with usage %d", key.KeyType, usage, usage+1)
	}
	theirs.Cipher[len(theirs.Cipher)/2] ^= 1
	_, err = decryptEncPart(theirs, key, usage)
	if err == nil || (isRFC3962(key.KeyType) && !errors.Is(err, errIntegrity)) {
		t.Fatalf("etype %d usage %d: tampered ciphertext: %v; want integrity failure", key.KeyType, usage, err)
	}
}

// TestCTSDecryptMatchesAescts checks ctsDecrypt against aescts.Decrypt
// on random ciphertexts of every length from one block to five.
func TestCTSDecryptMatchesAescts(t *testing.T) {
	key := make([]byte, 32)
	rand.Read(key)
	c, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	for n := aesBlock; n <= 5*aesBlock; n++ {
		ct := make([]byte, n)
		rand.Read(ct)
		want, err := aescts.Decrypt(key, make([]byte, aesBlock), ct)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, n)
		if ctsDecrypt(c, got, ct, make([]byte, 3*aesBlock)); !bytes.Equal(got, want) {
			t.Fatalf("%d bytes: got %x; want %x", n, got, want)
		}
	}
}

// TestRFC3962Short: a ciphertext shorter than confounder and MAC is an
// error, not a panic.
func TestRFC3962Short(t *testing.T) {
	key := types.EncryptionKey{KeyType: aes256, KeyValue: make([]byte, 32)}
	for n := range 28 {
		if _, err := decryptEncPart(types.EncryptedData{EType: aes256, Cipher: make([]byte, n)}, key, 2); err == nil {
			t.Fatalf("%d-byte ciphertext decrypted", n)
		}
	}
}
