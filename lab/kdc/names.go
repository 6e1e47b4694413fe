package kdc

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The names krbfarm lets reach the KDC, checked where they enter (YAML
// config, CLI, Go API) and again before any kadmin.local request, so that
// no name or password can become a second request or an option.

// NameError is a name or password refused before it reaches the KDC: the
// field (a YAML path or an argument's name), its value (never shown for a
// password) and the rule it breaks.
type NameError struct {
	Field  string // e.g. users[1].name
	Value  string // the refused value; "" for a password
	Secret bool   // the value is a password: the message omits it
	Rule   string // what is wrong and what is accepted
}

func (e *NameError) Error() string {
	if e.Field == "" { // the rule alone, e.g. inside a *config.FieldError
		if e.Secret {
			return e.Rule
		}
		return fmt.Sprintf("%q: %s", e.Value, e.Rule)
	}
	if e.Secret {
		return fmt.Sprintf("%s: %s", e.Field, e.Rule)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Rule)
}

// Account kinds, as the directory holds them and the name rules tell
// them apart.
const (
	KindUser    = "user"
	KindService = "service" // a shared service account, e.g. svc-web
	KindMachine = "machine" // a host's computer account, e.g. SERVER1$
)

// Rules as the messages quote them.
const (
	samRules = `sAMAccountName rules: 1-20 characters, none of "/\[]:;|=,+*?<>@, ` +
		`no spaces or control characters, not starting with '-' nor ending with '.'; ` +
		`only a computer account ends with '$'`
	spnRules   = "an SPN is service/host[:port][/name], e.g. HTTP/sso.krbfarm.localhost: service letters, digits and '-'; host and name DNS names"
	realmRules = "a realm is upper-case letters, digits, '.' and '-' in dot-separated labels, e.g. KRBFARM.LOCALHOST"
	dnsRules   = "DNS labels of 1-63 letters, digits and '-', not starting or ending with '-', 253 characters at most"
	hostRules  = "a host name is one DNS label of 1-15 letters, digits and '-' (a NetBIOS computer name), not starting or ending with '-', e.g. server1"
	pwRules    = "a password is 1-256 printable characters (spaces and quotes are fine), no control characters"
)

const samForbidden = `"/\[]:;|=,+*?<>@`

// kindNoun is how messages name an account of kind.
func kindNoun(kind string) string {
	switch kind {
	case KindMachine:
		return "a computer account name"
	case KindService:
		return "a service account name"
	}
	return "a user name"
}

// CheckAccountName checks a sAMAccountName of kind (KindUser, KindService
// or KindMachine): the rules AD applies, which MIT accepts as a principal.
func CheckAccountName(field, name, kind string) error {
	bad := func(why string) error {
		return &NameError{Field: field, Value: name, Rule: fmt.Sprintf("%s %s (%s)", kindNoun(kind), why, samRules)}
	}
	if why := textProblem(name); why != "" {
		return bad(why)
	}
	switch n := utf8.RuneCountInString(name); {
	case n > 20:
		return bad(fmt.Sprintf("is %d characters long; at most 20", n))
	case strings.ContainsFunc(name, unicode.IsSpace):
		return bad("may not contain spaces")
	case strings.ContainsAny(name, samForbidden):
		return bad(fmt.Sprintf("may not contain %q", name[strings.IndexAny(name, samForbidden)]))
	case strings.HasPrefix(name, "-"):
		return bad("may not start with '-' (kadmin would read it as an option)")
	case strings.HasSuffix(name, "."):
		return bad("may not end with '.'")
	case strings.Contains(strings.TrimSuffix(name, "$"), "$"):
		return bad("may have '$' only at its end")
	case kind == KindMachine && (!strings.HasSuffix(name, "$") || name == "$"):
		return bad("ends with '$' after a host name, e.g. SERVER1$")
	case kind != KindMachine && strings.HasSuffix(name, "$"):
		return bad("may not end with '$': that marks a computer account")
	}
	return nil
}

// textProblem says why s cannot be a name at all: empty, not UTF-8, or
// holding a control character; "" if none.
func textProblem(s string) string {
	switch {
	case s == "":
		return "may not be empty"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	}
	if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(s[i:])
		return fmt.Sprintf("may not contain control characters (%U at byte %d)", r, i)
	}
	return ""
}

// CheckPassword accepts any printable text: passwords reach kadmin quoted,
// so spaces and quotes are fine; control characters (a newline above all)
// never are.
func CheckPassword(field, pw string) error {
	bad := func(why string) error {
		return &NameError{Field: field, Secret: true, Rule: why + " (" + pwRules + ")"}
	}
	if why := textProblem(pw); why != "" {
		return bad("a password " + why)
	}
	if n := utf8.RuneCountInString(pw); n > 256 {
		return bad(fmt.Sprintf("a password is %d characters long; at most 256", n))
	}
	return nil
}

// CheckSPN checks service/host[:port][/name].
func CheckSPN(field, spn string) error {
	bad := func(why string) error { return &NameError{Field: field, Value: spn, Rule: why + " (" + spnRules + ")"} }
	if why := textProblem(spn); why != "" {
		return bad("an SPN " + why)
	}
	parts := strings.Split(spn, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return bad("an SPN has two or three parts separated by '/'")
	}
	if !serviceClass(parts[0]) {
		return bad(fmt.Sprintf("the service class %q is not letters, digits and '-'", parts[0]))
	}
	host, port, hasPort := strings.Cut(parts[1], ":")
	if !dnsName(host, 1) {
		return bad(fmt.Sprintf("the host %q is not a DNS name", host))
	}
	if n, err := strconv.Atoi(port); hasPort && (err != nil || n < 1 || n > 65535 || port[0] == '0') {
		return bad(fmt.Sprintf("the port %q is not 1-65535", port))
	}
	if len(parts) == 3 && !dnsName(parts[2], 1) {
		return bad(fmt.Sprintf("the service name %q is not a DNS name", parts[2]))
	}
	return nil
}

func serviceClass(s string) bool {
	return s != "" && s[0] != '-' && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == ""
}

// dnsName reports whether s is a DNS name of at least minLabels labels.
func dnsName(s string, minLabels int) bool {
	labels := strings.Split(s, ".")
	if len(s) > 253 || len(labels) < minLabels {
		return false
	}
	for _, l := range labels {
		if !dnsLabel(l, 63) {
			return false
		}
	}
	return true
}

func dnsLabel(l string, max int) bool {
	return l != "" && len(l) <= max && l[0] != '-' && l[len(l)-1] != '-' &&
		strings.Trim(l, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == ""
}

// CheckFQDN checks a dotted DNS name of two labels or more, lower case.
func CheckFQDN(field, fqdn string) error {
	if !dnsName(fqdn, 2) || strings.ToLower(fqdn) != fqdn {
		return &NameError{Field: field, Value: fqdn, Rule: "use a dotted lower-case DNS name, e.g. sso.krbfarm.localhost (" + dnsRules + ")"}
	}
	return nil
}

// CheckHostName checks a host's name, which its computer account (NAME$)
// and HOST/ SPNs are made from.
func CheckHostName(field, name string) error {
	if !dnsLabel(name, 15) {
		return &NameError{Field: field, Value: name, Rule: hostRules}
	}
	return nil
}

// CheckRealm checks a Kerberos realm name.
func CheckRealm(field, realm string) error {
	if !dnsName(realm, 1) || strings.ToUpper(realm) != realm {
		return &NameError{Field: field, Value: realm, Rule: "use upper-case letters, digits, dots and dashes (" + realmRules + ")"}
	}
	return nil
}

// CheckPrincipal is the last check before a name goes into a kadmin
// request: components separated by '/', none empty, none holding what MIT
// or kadmin's parser treat specially (quotes, '@', '\', spaces, control
// characters), the first not starting with '-'.
func CheckPrincipal(field, name string) error {
	bad := func(why string) error { return &NameError{Field: field, Value: name, Rule: "a principal name " + why} }
	if why := textProblem(name); why != "" {
		return bad(why)
	}
	if strings.HasPrefix(name, "-") {
		return bad("may not start with '-'")
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" {
			return bad("may not have an empty component")
		}
	}
	if i := strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`"@\`, r) }); i >= 0 {
		return bad(fmt.Sprintf("may not contain %q", name[i]))
	}
	return nil
}
