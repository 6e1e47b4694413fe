package kdc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Tools holds the absolute paths of the MIT krb5 programs the lab runs.
type Tools struct {
	KDC      string // krb5kdc
	DBUtil   string // kdb5_util
	Kadmin   string // kadmin.local
	Kinit    string // kinit (client side; optional for the lab itself)
	Klist    string // klist (optional)
	Kvno     string // kvno (optional)
	searched string
}

// MissingToolsError says which krb5 programs were not found and which
// Debian packages provide them.
type MissingToolsError struct {
	Missing  []string // program names
	Packages []string // Debian packages that provide them
	Searched string   // the directories looked in
	// Field names the config field that sets the search path (a YAML
	// path, e.g. krb_path), set by the caller. "" = none is named.
	Field string
}

func (e *MissingToolsError) Error() string {
	msg := fmt.Sprintf("MIT Kerberos programs not found: %s (looked in %s): install them with "+
		"`sudo apt-get install -y %s`", strings.Join(e.Missing, ", "), e.Searched, strings.Join(e.Packages, " "))
	if e.Field != "" {
		msg += ", or set the search path with " + e.Field
	}
	return msg
}

// Rename returns the same error naming Field as name(Field) does, e.g. the
// flag that set it.
func (e *MissingToolsError) Rename(name func(field string) string) error {
	c := *e
	if c.Field != "" {
		c.Field = name(c.Field)
	}
	return &c
}

// toolPackages maps each program to the Debian package that ships it.
var toolPackages = map[string]string{
	"krb5kdc":      "krb5-kdc",
	"kdb5_util":    "krb5-kdc",
	"kadmin.local": "krb5-admin-server",
	"kinit":        "krb5-user",
	"klist":        "krb5-user",
	"kvno":         "krb5-user",
}

// searchPath returns the directories to look in: path if set, else $PATH
// plus the sbin directories that non-root users often lack in $PATH.
func searchPath(path string) []string {
	if path != "" {
		return filepath.SplitList(path)
	}
	dirs := filepath.SplitList(os.Getenv("PATH"))
	return append(dirs, "/usr/sbin", "/usr/local/sbin", "/sbin")
}

// FindTools looks up the krb5 programs. The server programs are required;
// the client programs are required only when needClient is set.
func FindTools(path string, needClient bool) (*Tools, error) {
	dirs := searchPath(path)
	t := &Tools{searched: strings.Join(dirs, ":")}
	var missing []string
	find := func(name string, dst *string, required bool) {
		if p := lookIn(dirs, name); p != "" {
			*dst = p
		} else if required {
			missing = append(missing, name)
		}
	}
	find("krb5kdc", &t.KDC, true)
	find("kdb5_util", &t.DBUtil, true)
	find("kadmin.local", &t.Kadmin, true)
	find("kinit", &t.Kinit, needClient)
	find("klist", &t.Klist, needClient)
	find("kvno", &t.Kvno, needClient)
	if len(missing) > 0 {
		return nil, &MissingToolsError{Missing: missing, Packages: packagesFor(missing), Searched: t.searched}
	}
	return t, nil
}

func lookIn(dirs []string, name string) string {
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

func packagesFor(missing []string) []string {
	seen := map[string]bool{}
	var pkgs []string
	for _, m := range missing {
		if p := toolPackages[m]; p != "" && !seen[p] {
			seen[p] = true
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}
