package directory

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"cmp"
	"crypto/rand"
	"encoding/base64"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/krbfarm/krbfarm/lab/internal/fsutil"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// Account kinds in the Directory (the name rules of package kdc tell them
// apart).
const (
	KindUser    = kdc.KindUser
	KindService = kdc.KindService
	KindMachine = kdc.KindMachine
)

// DefaultEnctypes are the keys an account gets (AES only, as
// msDS-SupportedEncryptionTypes 0x18).
var DefaultEnctypes = []string{"aes256-cts-hmac-sha1-96", "aes128-cts-hmac-sha1-96"}

// Account is one security principal of the domain, as Active Directory
// holds it: a password, a key version and the SPNs registered on it.
type Account struct {
	Name     string   `json:"name"` // sAMAccountName: alice, svc-web, SERVER1$
	Kind     string   `json:"kind"` // user, service, machine or gmsa
	Password string   `json:"password"`
	KVNO     int      `json:"kvno"`     // msDS-KeyVersionNumber; a password reset adds 1
	Enctypes []string `json:"enctypes"` // the keys it has, MIT names
	SPNs     []string `json:"spns"`     // servicePrincipalName values
	// Groups is how many security groups a user is in (memberOf, nested
	// included); its service tickets carry their SIDs. 0 = a few.
	Groups int `json:"groups,omitempty"`
	// OU is where the account sits, e.g. "OU=Service Accounts" (the
	// domain's DN left off); "" = its kind's default (see OUOf).
	OU string `json:"ou,omitempty"`
	// AllowedHosts is a gMSA's PrincipalsAllowedToRetrieveManagedPassword:
	// the computer accounts (SERVER1$) that fetch its password themselves.
	AllowedHosts []string `json:"allowed_hosts,omitempty"`
}

// Directory is the lab's model of the domain the KDC serves, with each
// host's IIS settings. It is persisted as DIR/directory.json; the KDC
// database and every host keytab are derived from it (see Admin).
type Directory struct {
	Realm    string      `json:"realm"`
	NetBIOS  string      `json:"netbios"` // domain short name, as in CORP\svc-web
	Service  string      `json:"service_account"`
	Accounts []*Account  `json:"accounts"`
	Hosts    []*HostSite `json:"hosts"`
	// GPOs are the group policy objects granting "Log on as a batch job";
	// Links maps each OU to the GPOs linked to it, by precedence (link
	// order 1 first). See gpo.go.
	GPOs  []*GPO              `json:"gpos,omitempty"`
	Links map[string][]string `json:"gpo_links,omitempty"`
}

// HostSite is what one IIS host knows and how it is set up.
type HostSite struct {
	Name        string        `json:"name"`    // server1
	Machine     string        `json:"machine"` // its computer account, SERVER1$
	IIS         IISSettings   `json:"iis"`
	ClockOffset time.Duration `json:"clock_offset"`
	// Creds is the password and kvno this host last received for each
	// account it may decrypt with (a keytab push updates it; a machine
	// updates its own). A host with an old entry holds a stale keytab.
	Creds map[string]Cred `json:"creds"`
	// KeytabEnctypes, if set, limits the enctypes written to the host's
	// keytab (e.g. an RC4-only keytab made with ktpass -crypto RC4-HMAC-NT).
	KeytabEnctypes []string `json:"keytab_enctypes,omitempty"`
	// Policy is the group policy the host applied at its last gpupdate;
	// nil = none yet (its local policy: IIS_IUSRS, so every pool, holds
	// "Log on as a batch job").
	Policy *AppliedPolicy `json:"policy,omitempty"`
}

// Cred is a password and the kvno it produced.
type Cred struct {
	Password string `json:"password"`
	KVNO     int    `json:"kvno"`
}

// MachineAccount is the computer account name of a host: SERVER1$.
func MachineAccount(host string) string { return strings.ToUpper(host) + "$" }

// Seed is what a fresh farm's domain starts with.
type Seed struct {
	Realm           string // e.g. KRBFARM.LOCALHOST; its first label is the NetBIOS name
	Domain          string // DNS domain of the hosts, e.g. krbfarm.localhost
	SPN             string // the site's SPN, held by the service account
	ServiceAccount  string
	ServicePassword string
	Users           []SeedUser
	Hosts           []SeedHost
}

// SeedUser is a user account a fresh domain holds.
type SeedUser struct{ Name, Password string }

// SeedHost is a host a fresh domain holds, with its IIS settings.
type SeedHost struct {
	Name        string
	IIS         IISSettings
	ClockOffset time.Duration
}

// New builds the domain a fresh farm starts with: its users, the shared
// service account holding the SPN, and one machine account per host with
// its default HOST/ SPNs (and a random password).
func New(s Seed) *Directory {
	d := &Directory{Realm: s.Realm, NetBIOS: strings.SplitN(s.Realm, ".", 2)[0], Service: s.ServiceAccount,
		GPOs: defaultGPOs(s.ServiceAccount)}
	for _, u := range s.Users {
		d.Accounts = append(d.Accounts, &Account{Name: u.Name, Kind: KindUser, Password: u.Password, KVNO: 1, Enctypes: DefaultEnctypes})
	}
	svc := &Account{Name: s.ServiceAccount, Kind: KindService, Password: s.ServicePassword, KVNO: 1, Enctypes: DefaultEnctypes,
		SPNs: []string{s.SPN}}
	d.Accounts = append(d.Accounts, svc)
	for _, b := range s.Hosts {
		m := &Account{Name: MachineAccount(b.Name), Kind: KindMachine, Password: RandomPassword(), KVNO: 1, Enctypes: DefaultEnctypes,
			SPNs: []string{"HOST/" + b.Name, "HOST/" + b.Name + "." + s.Domain}}
		d.Accounts = append(d.Accounts, m)
		h := &HostSite{Name: b.Name, Machine: m.Name, IIS: b.IIS, ClockOffset: b.ClockOffset, Creds: map[string]Cred{}}
		d.Hosts = append(d.Hosts, h)
	}
	for _, h := range d.Hosts {
		for _, name := range []string{h.Machine, s.ServiceAccount} {
			a := d.Account(name)
			h.Creds[a.Name] = Cred{Password: a.Password, KVNO: a.KVNO}
		}
	}
	return d
}

// RandomPassword is a fresh random password (18 bytes, base64url).
func RandomPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Account finds an account by any of the names Windows accepts:
// svc-web, CORP\svc-web, svc-web@REALM, SERVER1$, server1$ (case-insensitive).
func (d *Directory) Account(name string) *Account {
	if _, after, ok := strings.Cut(name, `\`); ok {
		name = after
	}
	name, _, _ = strings.Cut(name, "@")
	for _, a := range d.Accounts {
		if strings.EqualFold(a.Name, name) {
			return a
		}
	}
	return nil
}

// UserPasswords maps each user account to its password (for the hosts'
// ntlm_users, which hold only their NT hashes).
func (d *Directory) UserPasswords() map[string]string {
	m := map[string]string{}
	for _, a := range d.Accounts {
		if a.Kind == KindUser {
			m[a.Name] = a.Password
		}
	}
	return m
}

// Host returns the host called name, or nil.
func (d *Directory) Host(name string) *HostSite {
	for _, h := range d.Hosts {
		if strings.EqualFold(h.Name, name) {
			return h
		}
	}
	return nil
}

// Qualified is the account as Windows shows it: CORP\svc-web.
func (d *Directory) Qualified(a *Account) string { return d.NetBIOS + `\` + a.Name }

// Holders lists the accounts that hold spn (case-insensitive, as AD).
func (d *Directory) Holders(spn string) []*Account {
	var out []*Account
	for _, a := range d.Accounts {
		if slices.ContainsFunc(a.SPNs, func(s string) bool { return strings.EqualFold(s, spn) }) {
			out = append(out, a)
		}
	}
	return out
}

// Duplicates maps every SPN held by more than one account to its holders.
func (d *Directory) Duplicates() map[string][]*Account {
	out := map[string][]*Account{}
	for _, spn := range d.allSPNs() {
		if hs := d.Holders(spn); len(hs) > 1 {
			out[spn] = hs
		}
	}
	return out
}

// allSPNs lists every registered SPN once, lower-cased, sorted.
func (d *Directory) allSPNs() []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range d.Accounts {
		for _, s := range a.SPNs {
			if k := strings.ToLower(s); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// DuplicateSPNError is setspn -S refusing an SPN another account holds.
type DuplicateSPNError struct {
	SPN     string
	Holders []string // qualified names
}

func (e *DuplicateSPNError) Error() string {
	return fmt.Sprintf("Duplicate SPN found, aborting operation: %s is held by %s", e.SPN, strings.Join(e.Holders, ", "))
}

// NoAccountError names an account that does not exist.
type NoAccountError struct {
	Name string
	// Outside is set when a password for a principal outside the directory
	// could have been used but none was given.
	Outside bool
}

func (e *NoAccountError) Error() string {
	if e.Outside {
		return fmt.Sprintf("account %q not found in the directory: list them with `krbfarm account list`; "+
			"for a principal krbfarm did not create, export its password in KRBFARM_PASSWORD", e.Name)
	}
	return fmt.Sprintf("account %q not found in the directory: list them with `krbfarm account list`", e.Name)
}

// AccountExistsError refuses to add an account the directory already
// holds (names are unique case-insensitively, as sAMAccountName).
type AccountExistsError struct {
	Name     string // as asked
	Existing string // the account that holds it, qualified (KRBFARM\bob)
	Kind     string // KindUser, KindService or KindMachine
}

func (e *AccountExistsError) Error() string {
	return fmt.Sprintf("%s already exists (a %s account); to give it a new password, reset it (kvno+1) instead of adding it", e.Existing, e.Kind)
}

// AddSPN registers spn on account. With check (setspn -S) it refuses an SPN
// held by any account, this one included; without (setspn -A) it adds it
// anyway, which is how duplicates happen.
func (d *Directory) AddSPN(spn, account string, check bool) (*Account, error) {
	if err := kdc.CheckSPN("spn", spn); err != nil {
		return nil, err
	}
	a := d.Account(account)
	if a == nil {
		return nil, &NoAccountError{Name: account}
	}
	if hs := d.Holders(spn); len(hs) > 0 && check {
		e := &DuplicateSPNError{SPN: spn}
		for _, h := range hs {
			e.Holders = append(e.Holders, d.Qualified(h))
		}
		return a, e
	}
	if !slices.ContainsFunc(a.SPNs, func(s string) bool { return strings.EqualFold(s, spn) }) {
		a.SPNs = append(a.SPNs, spn)
	}
	return a, nil
}

// DeleteSPN removes spn from account (setspn -D).
func (d *Directory) DeleteSPN(spn, account string) (*Account, error) {
	a := d.Account(account)
	if a == nil {
		return nil, &NoAccountError{Name: account}
	}
	i := slices.IndexFunc(a.SPNs, func(s string) bool { return strings.EqualFold(s, spn) })
	if i < 0 {
		return a, fmt.Errorf("%s does not hold %s: list its SPNs with setspn -L %s", d.Qualified(a), spn, a.Name)
	}
	a.SPNs = slices.Delete(a.SPNs, i, i+1)
	return a, nil
}

// ResetPassword gives account a new password; its kvno goes up by one.
func (d *Directory) ResetPassword(account, password string) (*Account, error) {
	a := d.Account(account)
	if a == nil {
		return nil, &NoAccountError{Name: account}
	}
	if password != "" {
		if err := kdc.CheckPassword("password", password); err != nil {
			return nil, err
		}
	}
	a.Password = cmp.Or(password, RandomPassword())
	a.KVNO++
	return a, nil
}

// Validate checks everything of the directory that reaches the KDC, all
// at once, each error naming its path (accounts[2].spns[0]): a
// directory.json edited by hand is refused before any kadmin request.
func (d *Directory) Validate() error {
	errs := []error{kdc.CheckRealm("realm", d.Realm)}
	seen := map[string]bool{}
	for i, a := range d.Accounts {
		at := fmt.Sprintf("accounts[%d]", i)
		kind := a.Kind
		switch kind {
		case KindUser, KindService, KindMachine:
		case KindGMSA:
			kind = KindMachine // named as a computer account: gmsa-web$
		default:
			errs = append(errs, fmt.Errorf("%s.kind %q: use %s, %s, %s or %s", at, a.Kind, KindUser, KindService, KindMachine, KindGMSA))
			kind = KindUser
		}
		errs = append(errs, kdc.CheckAccountName(at+".name", a.Name, kind), kdc.CheckPassword(at+".password", a.Password))
		if k := strings.ToLower(a.Name); seen[k] {
			errs = append(errs, fmt.Errorf("%s.name %q: used twice; account names are unique (case-insensitive)", at, a.Name))
		} else {
			seen[k] = true
		}
		if a.KVNO < 1 || a.KVNO > 255 {
			errs = append(errs, fmt.Errorf("%s.kvno %d: use 1-255 (a keytab holds one byte)", at, a.KVNO))
		}
		for j, e := range a.Enctypes {
			if etypeID.EtypeSupported(e) == 0 {
				errs = append(errs, fmt.Errorf("%s.enctypes[%d] %q: use aes256-cts-hmac-sha1-96, aes128-cts-hmac-sha1-96 or arcfour-hmac", at, j, e))
			}
		}
		for j, spn := range a.SPNs {
			errs = append(errs, kdc.CheckSPN(fmt.Sprintf("%s.spns[%d]", at, j), spn))
		}
	}
	return errors.Join(append(errs, d.validateGPOs())...)
}

// directoryPath is where a state dir keeps its directory.
func Path(stateDir string) string { return filepath.Join(stateDir, "directory.json") }

// Load reads DIR/directory.json.
func Load(stateDir string) (*Directory, error) {
	b, err := os.ReadFile(Path(stateDir))
	if err != nil {
		return nil, fmt.Errorf("directory: %w (is a farm running with --state %s?)", err, stateDir)
	}
	var d Directory
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("directory %s: %w", Path(stateDir), err)
	}
	return &d, nil
}

// Save writes the directory atomically (0600: it holds lab passwords).
func (d *Directory) Save(stateDir string) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteAtomic(Path(stateDir), append(b, '\n'), 0o600)
}
