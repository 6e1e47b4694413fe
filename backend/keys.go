package backend

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

// LoadKeytab reads and parses a keytab file. Its errors name the path, the
// cause and the fix.
func LoadKeytab(path string) (*keytab.Keytab, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keytab %s: %s: %w", path, readFix(err), err)
	}
	kt, err := parseKeytab(b)
	if err != nil {
		return nil, fmt.Errorf("keytab %s: not a valid keytab (%v): regenerate it (kadmin ktadd -k %s, or ktpass on Windows) and check it with klist -kte %s", path, err, path, path)
	}
	if len(kt.Entries) == 0 {
		return nil, fmt.Errorf("keytab %s: holds no keys: add the service key with kadmin ktadd -k %s SPN", path, path)
	}
	return kt, nil
}

func readFix(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "file not found: create it with kadmin ktadd (or ktpass), or fix the keytab path in the config"
	case errors.Is(err, fs.ErrPermission):
		return "permission denied: the backend needs read access (chmod 0600, owned by the backend's user)"
	case errors.Is(err, syscall.EISDIR):
		return "is a directory: point keytab at the keytab file itself"
	}
	return "cannot be read"
}

// parseKeytab wraps keytab.Unmarshal, which can panic on corrupt input.
func parseKeytab(b []byte) (kt *keytab.Keytab, err error) {
	defer func() {
		if p := recover(); p != nil {
			kt, err = nil, fmt.Errorf("decoder panic: %v", p)
		}
	}()
	kt = keytab.New()
	if len(b) == 2 && b[0] == 5 && (b[1] == 1 || b[1] == 2) {
		return kt, nil // header only: a keytab with no entries
	}
	if err := kt.Unmarshal(b); err != nil {
		return nil, redactKeytabErr(err)
	}
	return kt, nil
}

// redactKeytabErr drops gokrb5 errors that quote the keytab bytes (its
// "%s's length is less than %d" prints the whole file, keys included).
func redactKeytabErr(err error) error {
	if strings.Contains(err.Error(), "'s length is") {
		return errors.New("truncated entry")
	}
	return err
}

// hasPrincipal reports whether kt holds any key for name@realm ("" = any realm).
func hasPrincipal(kt *keytab.Keytab, name types.PrincipalName, realm string) bool {
	for _, e := range kt.Entries {
		if (realm == "" || e.Principal.Realm == realm) && sameName(e.Principal.Components, name.NameString) {
			return true
		}
	}
	return false
}

// findKey picks the keytab key for a ticket encrypted for name@realm with
// kvno and etype, telling apart the ways it can be missing as MIT does:
// no key for the principal (NOKEY), the principal with other kvnos only
// (BADKEYVER), or the kvno without that enctype (NOKEY). kvno 0 means the
// ticket did not say: the newest kvno wins.
func findKey(kt *keytab.Keytab, name types.PrincipalName, realm string, kvno int, etype int32) (types.EncryptionKey, int, error) {
	princ := principalString(name.NameString, realm)
	var found, kvnoFound bool
	var best types.EncryptionKey
	bestKvno := -1
	for _, e := range kt.Entries {
		if e.Principal.Realm != realm || !sameName(e.Principal.Components, name.NameString) {
			continue
		}
		found = true
		if kvno != 0 && !kvnoMatch(e.KVNO, kvno) {
			continue
		}
		kvnoFound = true
		if e.Key.KeyType == etype && int(e.KVNO) > bestKvno {
			best, bestKvno = e.Key, int(e.KVNO)
		}
	}
	switch {
	case !found:
		return best, 0, krbErr(errorcode.KRB_AP_ERR_NOKEY, "no key for %s in keytab: the keytab is for another principal or realm", princ)
	case !kvnoFound:
		return best, 0, krbErr(errorcode.KRB_AP_ERR_BADKEYVER, "Request ticket server %s kvno %d not found in keytab; keytab is likely out of date", princ, kvno)
	case bestKvno < 0:
		return best, 0, krbErr(errorcode.KRB_AP_ERR_NOKEY, "Request ticket server %s kvno %d found in keytab but not with enctype %s", princ, kvno, etypeName(etype))
	}
	return best, bestKvno, nil
}

// kvnoMatch compares a keytab kvno with a ticket's; keytabs with only the
// 8-bit field hold the kvno modulo 256.
func kvnoMatch(have uint32, want int) bool {
	return int64(have) == int64(want) || (have < 256 && uint8(have) == uint8(want))
}

func sameName(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// etypeName gives the MIT name of an enctype number.
func etypeName(id int32) string {
	switch id {
	case 17:
		return "aes128-cts-hmac-sha1-96"
	case 18:
		return "aes256-cts-hmac-sha1-96"
	case 19:
		return "aes128-cts-hmac-sha256-128"
	case 20:
		return "aes256-cts-hmac-sha384-192"
	case 23:
		return "arcfour-hmac"
	case 24:
		return "arcfour-hmac-exp"
	case 16:
		return "des3-cbc-sha1"
	case 25:
		return "camellia128-cts-cmac"
	case 26:
		return "camellia256-cts-cmac"
	}
	return fmt.Sprintf("enctype %d", id)
}
