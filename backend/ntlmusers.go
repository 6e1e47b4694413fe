package backend

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
)

// ntlmUsers maps a lower-case user name to its NT hash: what a domain
// controller checks NTLM responses against.
type ntlmUsers map[string][]byte

// maxNTLMUsers bounds the users file.
const maxNTLMUsers = 100000

// loadNTLMUsers reads a file of "user:NT-hash-hex" lines ('#' comments and
// blank lines allowed). The file holds password equivalents: it must not be
// readable by group or others.
func loadNTLMUsers(path string) (ntlmUsers, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("ntlm_users %s: %w", path, err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("ntlm_users %s: mode %v lets others read NT hashes: chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ntlm_users %s: %w", path, err)
	}
	return parseNTLMUsers(b, path)
}

func parseNTLMUsers(b []byte, path string) (ntlmUsers, error) {
	users := ntlmUsers{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hexHash, ok := strings.Cut(line, ":")
		h, err := hex.DecodeString(strings.TrimSpace(hexHash))
		if !ok || err != nil || len(h) != 16 || ntlmUserKey(name) == "" {
			return nil, fmt.Errorf("ntlm_users %s line %d: want user:NT-hash (32 hex digits)", path, n)
		}
		if len(users) >= maxNTLMUsers {
			return nil, fmt.Errorf("ntlm_users %s: more than %d users", path, maxNTLMUsers)
		}
		users[ntlmUserKey(name)] = h
	}
	return users, sc.Err()
}

// ntlmUserKey is the lookup key of a user name: DOMAIN\ and @REALM dropped,
// lower case (Windows account names are case-insensitive).
func ntlmUserKey(name string) string {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, '\\'); i >= 0 {
		name = name[i+1:]
	}
	name, _, _ = strings.Cut(name, "@")
	return strings.ToLower(name)
}

// WriteNTLMUsers writes passwords (user name to password) as an ntlm_users
// file, mode 0600, holding NT hashes only.
func WriteNTLMUsers(path string, passwords map[string]string) error {
	names := make([]string, 0, len(passwords))
	for u := range passwords {
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# user:NT hash (MD4 of the UTF-16LE password), read by the backend for NTLM\n")
	for _, u := range names {
		fmt.Fprintf(&b, "%s:%x\n", u, NTHash(passwords[u]))
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ntlmHash is user's NT hash, if the users file lists it.
func (s *Site) ntlmHash(user string) ([]byte, bool) {
	users := s.ntlmUsers.Load()
	if users == nil {
		return nil, false
	}
	h, ok := (*users)[ntlmUserKey(user)]
	return h, ok
}

// ReloadNTLMUsers re-reads Config.NTLMUsers (after a password reset); on
// error the old users stay. Without a users file it does nothing.
func (s *Site) ReloadNTLMUsers() error {
	if s.cfg.NTLMUsers == "" {
		return nil
	}
	u, err := loadNTLMUsers(s.cfg.NTLMUsers)
	if err != nil {
		return err
	}
	s.ntlmUsers.Store(&u)
	return nil
}
