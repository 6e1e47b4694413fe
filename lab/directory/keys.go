package directory

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// SyncKDC makes the KDC database follow the directory. Every service and
// machine account, and every SPN held by exactly one account, is a
// principal whose keys derive from the holder's password at the holder's
// kvno: so a ticket for an SPN is encrypted with its holder's key. An SPN
// held by two accounts is removed, so the KDC answers
// KDC_ERR_S_PRINCIPAL_UNKNOWN for it, as AD does with a duplicate.
// Users are left alone: they were made once at provisioning.
//
// The KDC may be shared: SyncKDC changes and deletes only principals it
// created, recorded in synced.json (Owned). One it needs that exists
// without being recorded there (made with kadmin by someone else) is
// refused with *UnmanagedPrincipalError, before any change.
//
// The whole directory is checked before the first request; principals are
// added and re-keyed before any is deleted, so a failure midway loses no
// principal (and Admin.Update restores its snapshot then). A principal
// whose keys already match (its fingerprint in synced.json) is left alone:
// each kadmin request is a process of its own.
func SyncKDC(ctx context.Context, r *kdc.Realm, d *Directory) (err error) {
	if err := d.Validate(); err != nil {
		return err
	}
	owned, err := Owned(r)
	if err != nil {
		return err
	}
	have, err := r.Principals(ctx)
	if err != nil {
		return err
	}
	want := kdcPrincipals(d)
	if err := checkUnmanaged(r.Name, want, have, owned); err != nil {
		return err
	}
	done := map[string]string{}
	defer func() {
		if err != nil { // a failure midway still records what it made
			saveSynced(r, merged(owned, done))
		}
	}()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		fp, exists := keyFingerprint(name, want[name]), slices.Contains(have, name)
		if !exists || owned[name] != fp {
			if changed, err := rekey(ctx, r, name, want[name], exists); err != nil {
				if changed { // new keys at the wrong kvno: re-key next time
					done[name] = ""
				}
				return err
			}
		}
		done[name] = fp
	}
	for _, name := range slices.Sorted(maps.Keys(owned)) {
		if want[name] == nil && slices.Contains(have, name) && !kdc.SystemPrincipal(name) {
			if err := r.DeletePrincipal(ctx, name); err != nil {
				return err
			}
		}
		delete(owned, name)
	}
	return saveSynced(r, done)
}

// merged is what synced.json records after a sync that stopped midway:
// the principals it owned (those no longer wanted included, as they may
// not be deleted yet) with the fingerprints of those it re-keyed. One it
// did not reach keeps its fingerprint: its keys did not change, and
// re-keying it with the same password would be refused by a KDC whose
// policy keeps a password history (Cannot reuse password).
func merged(owned, done map[string]string) map[string]string {
	m := maps.Clone(done)
	for name, fp := range owned {
		if _, ok := m[name]; !ok {
			m[name] = fp
		}
	}
	return m
}

// UnmanagedPrincipalError is a principal the directory needs (an SPN's or
// an account's) that exists in the KDC but was not made by the lab: the
// lab does not take over principals it did not create.
type UnmanagedPrincipalError struct{ Principal, Realm string }

func (e *UnmanagedPrincipalError) Error() string {
	return fmt.Sprintf("principal %s@%s exists in the KDC but krbfarm did not create it, so it will not change it: "+
		"register another SPN, or delete it yourself (kadmin.local delprinc %s) to let krbfarm make it", e.Principal, e.Realm, e.Principal)
}

func checkUnmanaged(realm string, want map[string]*Account, have []string, owned map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if _, ok := owned[name]; !ok && slices.Contains(have, name) {
			return &UnmanagedPrincipalError{Principal: name, Realm: realm}
		}
	}
	return nil
}

// keyFingerprint identifies the keys principal name gets from a.
func keyFingerprint(name string, a *Account) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%s", name, a.Password, a.KVNO, strings.Join(a.Enctypes, ","))
	return hex.EncodeToString(h.Sum(nil))
}

// Owned reads synced.json: the principals (no realm) the lab created
// besides its users, each with a fingerprint of the keys it last gave it.
// A missing file is a realm where the lab made none yet.
func Owned(r *kdc.Realm) (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(r.SyncedPath())
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w (it records which principals krbfarm made; fix or restore it)", r.SyncedPath(), err)
	}
	return m, nil
}

func saveSynced(r *kdc.Realm, m map[string]string) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(r.SyncedPath(), b, 0o600)
}

// kdcPrincipals maps each principal the directory makes (no realm) to the
// account whose keys it has.
func kdcPrincipals(d *Directory) map[string]*Account {
	want := map[string]*Account{}
	for _, a := range d.Accounts {
		if a.Kind != KindUser {
			want[a.Name] = a
		}
	}
	for _, spn := range d.allSPNs() {
		if hs := d.Holders(spn); len(hs) == 1 {
			want[spnPrincipal(spn)] = hs[0]
		}
	}
	return want
}

// rekey gives principal name a's keys at a's kvno, creating it if needed;
// changed reports that an existing principal's keys changed even though it
// failed (cpw done, modprinc -kvno not).
func rekey(ctx context.Context, r *kdc.Realm, name string, a *Account, exists bool) (changed bool, err error) {
	if !exists {
		return false, r.AddPrincipalKeys(ctx, name, a.Password, a.Enctypes, a.KVNO)
	}
	if err := r.ChangePassword(ctx, name, a.Password, a.Enctypes); err != nil {
		return false, err
	}
	return true, r.SetKVNO(ctx, name, a.KVNO)
}

// spnPrincipal is the MIT principal for an SPN: service part as written
// (HTTP), host part lower-case, as AD matches SPNs case-insensitively.
func spnPrincipal(spn string) string {
	svc, host, _ := strings.Cut(spn, "/")
	if strings.EqualFold(svc, "http") {
		svc = "HTTP"
	} else if strings.EqualFold(svc, "host") {
		svc = "HOST"
	}
	return svc + "/" + strings.ToLower(host)
}

// AccountKeytab is what `ktpass` exports for an account: a key for each of
// its SPNs and for itself, from password at kvno, for each enctype.
func AccountKeytab(realm string, a *Account, c Cred, enctypes []string, extra ...string) (*keytab.Keytab, error) {
	kt := keytab.New()
	names := []string{a.Name}
	seen := map[string]bool{a.Name: true}
	for _, s := range append(slices.Clone(a.SPNs), extra...) {
		if p := spnPrincipal(s); !seen[p] {
			seen[p] = true
			names = append(names, p)
		}
	}
	now := time.Now()
	for _, n := range names {
		for _, e := range enctypes {
			id := etypeID.EtypeSupported(e)
			if id == 0 {
				return nil, fmt.Errorf("enctype %q: use aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 or arcfour-hmac", e)
			}
			if err := kt.AddEntry(n, realm, c.Password, now, uint8(c.KVNO), id); err != nil {
				return nil, fmt.Errorf("key for %s: %w", n, err)
			}
		}
	}
	return kt, nil
}

// HostKeytab is the keytab a host decrypts with: the keys of the account
// the IIS rule selects, as the host last received them.
func HostKeytab(d *Directory, h *HostSite) (*keytab.Keytab, *Account, error) {
	name := h.IIS.DecryptingAccount(d.Service, h.Machine)
	a := d.Account(name)
	if a == nil {
		return nil, nil, &NoAccountError{Name: name}
	}
	c := heldCred(h, a)
	es := a.Enctypes
	if len(h.KeytabEnctypes) > 0 {
		es = h.KeytabEnctypes
	}
	// In AD one account key serves every SPN name (its salt is the
	// account's); MIT salts by principal name, so the host gets its
	// account's key under every web SPN of the domain. A ticket for an SPN
	// held by another account then fails here as on Windows: MODIFIED.
	var web []string
	for _, s := range d.allSPNs() {
		if strings.HasPrefix(s, "http/") {
			web = append(web, s)
		}
	}
	kt, err := AccountKeytab(d.Realm, a, c, es, web...)
	return kt, a, err
}

// WriteHostKeytab writes host h's keytab (HostKeytab) to path, mode 0600.
func WriteHostKeytab(d *Directory, h *HostSite, path string) error {
	kt, _, err := HostKeytab(d, h)
	if err != nil {
		return err
	}
	return WriteKeytab(kt, path)
}

// WriteKeytab writes kt to path, mode 0600, whole or not at all.
func WriteKeytab(kt *keytab.Keytab, path string) error {
	b, err := kt.Marshal()
	if err != nil {
		return err
	}
	if err := fsutil.WriteAtomic(path, b, 0o600); err != nil {
		return err
	}
	return os.Chmod(path, 0o600)
}
