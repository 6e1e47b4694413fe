package backend

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
)

// TokenChecking is IIS's extendedProtection tokenChecking: whether a
// Kerberos token must carry channel bindings that match the connection.
type TokenChecking string

// The tokenChecking values, as IIS spells them.
const (
	// TokenCheckingNone ignores channel bindings (IIS's default, 0).
	TokenCheckingNone TokenChecking = "None"
	// TokenCheckingAllow accepts a token without bindings but refuses one
	// whose bindings do not match (1; "Accept" in IIS Manager).
	TokenCheckingAllow TokenChecking = "Allow"
	// TokenCheckingRequire refuses a token without matching bindings (2).
	TokenCheckingRequire TokenChecking = "Require"
)

// The extendedProtection flags, as IIS spells them, with their http.sys
// values (HTTP_CHANNEL_BIND_INFO).
const (
	EPAFlagNone               = "None"               // 0
	EPAFlagProxy              = "Proxy"              // 0x1: TLS ends before this host: check the SPN, not the exact bindings
	EPAFlagNoServiceNameCheck = "NoServiceNameCheck" // 0x2: the SPN check always passes
	EPAFlagAllowDotlessSpn    = "AllowDotlessSpn"    // 0x4: spns may be NetBIOS names (no dot)
	EPAFlagProxyCohosting     = "ProxyCohosting"     // 0x20, with Proxy: also accept tokens without bindings
)

// epaFlags is the resolved flag set.
type epaFlags uint32

const (
	flagProxy          epaFlags = 0x1
	flagNoServiceCheck epaFlags = 0x2
	flagDotless        epaFlags = 0x4
	flagCohosting      epaFlags = 0x20
)

var epaFlagValues = map[string]epaFlags{
	EPAFlagNone: 0, EPAFlagProxy: flagProxy, EPAFlagNoServiceNameCheck: flagNoServiceCheck,
	EPAFlagAllowDotlessSpn: flagDotless, EPAFlagProxyCohosting: flagCohosting,
}

// ExtendedProtection is IIS's windowsAuthentication/extendedProtection
// (Extended Protection for Authentication, EPA) for Kerberos tokens. The
// zero value is tokenChecking None: bindings are not looked at.
//
// The client puts an MD5 of the RFC 4121 channel bindings in its token; for
// HTTPS their application data is RFC 5929 "tls-server-end-point:" and the
// hash of the server certificate the client saw. Without Proxy, the host
// compares them with its own TLS connection: a token bound to another
// certificate (a TLS-terminating load balancer's, a man in the middle's) is
// refused, and over plain HTTP there is no channel to match. With Proxy,
// as http.sys, the exact match is skipped and the SPN check (service
// binding) runs instead: the ticket's SPN must be in SPNs.
type ExtendedProtection struct {
	// TokenChecking is None, Allow or Require; "" means None.
	TokenChecking TokenChecking `yaml:"tokenChecking,omitempty"`
	// Flags lists IIS's flags: Proxy, ProxyCohosting (only with Proxy),
	// NoServiceNameCheck, AllowDotlessSpn; empty means None.
	Flags []string `yaml:"flags,omitempty,flow"`
	// SPNs is the service binding list: with Proxy, the ticket's SPN must be
	// one of these ("HTTP/<fqdn>", matched without regard to case). Empty:
	// none; read only with Proxy.
	SPNs []string `yaml:"spns,omitempty,flow"`
}

// canonicalTokenChecking spells t as IIS does; "" and unknown values are
// returned unchanged.
func canonicalTokenChecking(t TokenChecking) TokenChecking {
	if strings.EqualFold(string(t), "Accept") {
		return TokenCheckingAllow
	}
	for _, k := range []TokenChecking{TokenCheckingNone, TokenCheckingAllow, TokenCheckingRequire} {
		if strings.EqualFold(string(t), string(k)) {
			return k
		}
	}
	return t
}

// mode returns the resolved tokenChecking.
func (e *ExtendedProtection) mode() TokenChecking {
	return canonicalTokenChecking(cmp.Or(e.TokenChecking, TokenCheckingNone))
}

// flags returns the resolved flag set (unknown names are ignored:
// Validate refuses them).
func (e *ExtendedProtection) flags() epaFlags {
	var f epaFlags
	for _, name := range e.Flags {
		for known, v := range epaFlagValues {
			if strings.EqualFold(name, known) {
				f |= v
			}
		}
	}
	return f
}

// Validate reports every wrong field, named by its YAML path
// (extendedProtection.*), as Config.Validate does.
func (e *ExtendedProtection) Validate() error { return e.validate() }

// validate reports every wrong field, named by its YAML path.
func (e *ExtendedProtection) validate() error {
	var errs []error
	mode := e.mode()
	switch mode {
	case TokenCheckingNone, TokenCheckingAllow, TokenCheckingRequire:
	default:
		errs = append(errs, fmt.Errorf("extendedProtection.tokenChecking %q: use None, Allow or Require", e.TokenChecking))
	}
	errs = append(errs, e.validateFlags()...)
	f := e.flags()
	switch {
	case mode == TokenCheckingNone && (f != 0 || len(e.SPNs) > 0):
		errs = append(errs, errors.New("extendedProtection.flags and spns: ignored with tokenChecking None: set tokenChecking Allow or Require, or remove them"))
	case f&flagCohosting != 0 && f&flagProxy == 0:
		errs = append(errs, errors.New("extendedProtection.flags: ProxyCohosting needs Proxy too: use [Proxy, ProxyCohosting]"))
	case f&flagProxy == 0 && len(e.SPNs) > 0:
		errs = append(errs, errors.New("extendedProtection.spns: read only with flags Proxy (service binding): add Proxy, or remove spns"))
	case f&flagProxy != 0 && f&flagNoServiceCheck == 0 && len(e.SPNs) == 0:
		errs = append(errs, errors.New("extendedProtection.spns: flags Proxy checks the ticket's SPN against spns, which is empty: list the site's names, e.g. [HTTP/sso.krbfarm.localhost]"))
	}
	errs = append(errs, e.validateSPNs(f)...)
	return errors.Join(errs...)
}

func (e *ExtendedProtection) validateFlags() []error {
	var errs []error
	seen := map[string]bool{}
	for _, name := range e.Flags {
		canon := ""
		for known := range epaFlagValues {
			if strings.EqualFold(name, known) {
				canon = known
			}
		}
		switch {
		case canon == "":
			errs = append(errs, fmt.Errorf("extendedProtection.flags: %q is not a flag: use Proxy, ProxyCohosting, NoServiceNameCheck, AllowDotlessSpn or None", name))
		case seen[canon]:
			errs = append(errs, fmt.Errorf("extendedProtection.flags: %s is listed twice", canon))
		case canon == EPAFlagNone && len(e.Flags) > 1:
			errs = append(errs, errors.New("extendedProtection.flags: None cannot be combined with other flags"))
		}
		seen[canon] = true
	}
	return errs
}

func (e *ExtendedProtection) validateSPNs(f epaFlags) []error {
	var errs []error
	seen := map[string]bool{}
	for i, spn := range e.SPNs {
		svc, host, ok := strings.Cut(spn, "/")
		switch {
		case !ok || !strings.EqualFold(svc, "HTTP") || host == "" || strings.ContainsAny(host, "/@ "):
			errs = append(errs, fmt.Errorf("extendedProtection.spns[%d] %q: use HTTP/<name>, e.g. \"HTTP/sso.krbfarm.localhost\" (no @REALM)", i, spn))
		case !strings.Contains(host, ".") && f&flagDotless == 0:
			errs = append(errs, fmt.Errorf("extendedProtection.spns[%d] %q: not a fully qualified name: use the FQDN, or add flag AllowDotlessSpn", i, spn))
		case seen[strings.ToLower(spn)]:
			errs = append(errs, fmt.Errorf("extendedProtection.spns[%d] %q: listed twice", i, spn))
		}
		seen[strings.ToLower(spn)] = true
	}
	return errs
}
