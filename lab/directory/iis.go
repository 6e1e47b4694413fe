package directory

import (
	"errors"
	"fmt"
	"strings"

	"cmp"
	"github.com/krbfarm/krbfarm/backend"
)

// Identities that mean "the host's machine account" when a pool runs as them.
const (
	AppPoolIdentity = "ApplicationPoolIdentity"
	NetworkService  = "NetworkService"
)

// IISSettings are the Windows Authentication settings of one IIS site and
// its application pool, named as IIS names them. Together they decide which
// account's key decrypts Kerberos tickets (see DecryptingAccount).
type IISSettings struct {
	// Identity is the application pool identity: an account name (the shared
	// svc-web), or ApplicationPoolIdentity / NetworkService, meaning the
	// host's machine account. "" = the farm's shared service account.
	Identity string `yaml:"identity" json:"identity"`
	// UseKernelMode is windowsAuthentication/useKernelMode: http.sys
	// decrypts tickets. nil = true (IIS's default).
	UseKernelMode *bool `yaml:"useKernelMode" json:"useKernelMode"`
	// UseAppPoolCredentials is windowsAuthentication/useAppPoolCredentials:
	// in kernel mode, decrypt with the pool identity's key rather than the
	// machine's. nil = true here, Microsoft's recommended farm setting (IIS's
	// own default is false: see the app-pool-credentials-off scenario).
	UseAppPoolCredentials *bool `yaml:"useAppPoolCredentials" json:"useAppPoolCredentials"`
	// BatchLogonRight says whether the pool identity holds "Log on as a
	// batch job" (SeBatchLogonRight). nil = true. false: the pool cannot
	// start, the host answers 503 (no-batch-logon-right scenario).
	BatchLogonRight *bool `yaml:"batchLogonRight,omitempty" json:"batchLogonRight,omitempty"`
	// MaxFieldLength and MaxRequestBytes are http.sys's header limits
	// (HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters); 0 = 16384,
	// Windows' default. A header over them gets 400 "Request Header Too
	// Long" (large-token scenario).
	MaxFieldLength  int `yaml:"maxFieldLength,omitempty" json:"maxFieldLength,omitempty"`
	MaxRequestBytes int `yaml:"maxRequestBytes,omitempty" json:"maxRequestBytes,omitempty"`
	// ExtendedProtection is windowsAuthentication/extendedProtection:
	// tokenChecking None (the zero value, IIS's default), Allow or Require,
	// its flags and spns, written as is to the host's backend.yaml. Behind
	// a TLS-terminating LB, Require refuses every browser's token
	// (extended-protection-offload scenario).
	ExtendedProtection backend.ExtendedProtection `yaml:"extendedProtection,omitempty" json:"extendedProtection,omitzero"`
	// AuthPersistSingleRequest is windowsAuthentication/
	// authPersistSingleRequest: every request must authenticate, no logon
	// stays on the connection. false = IIS's default (l7-connection-pooling
	// scenario: the hosts' cure for an L7 balancer that pools connections).
	AuthPersistSingleRequest bool `yaml:"authPersistSingleRequest,omitempty" json:"authPersistSingleRequest,omitempty"`
}

// EPAOn reports whether extendedProtection looks at channel bindings.
func (s IISSettings) EPAOn() bool {
	t := s.ExtendedProtection.TokenChecking
	return t != "" && !strings.EqualFold(string(t), string(backend.TokenCheckingNone))
}

// HeaderLimits reports maxFieldLength and maxRequestBytes with defaults.
func (s IISSettings) HeaderLimits() (field, request int) {
	return cmp.Or(s.MaxFieldLength, backend.DefaultMaxFieldLength), cmp.Or(s.MaxRequestBytes, backend.DefaultMaxRequestBytes)
}

// BatchRight reports batchLogonRight with its default.
func (s IISSettings) BatchRight() bool { return s.BatchLogonRight == nil || *s.BatchLogonRight }

// KernelMode reports useKernelMode with its default.
func (s IISSettings) KernelMode() bool { return s.UseKernelMode == nil || *s.UseKernelMode }

// AppPoolCredentials reports useAppPoolCredentials with the farm's default.
func (s IISSettings) AppPoolCredentials() bool {
	return s.UseAppPoolCredentials == nil || *s.UseAppPoolCredentials
}

// PoolAccount is the account the application pool runs as.
func (s IISSettings) PoolAccount(service, machine string) string {
	switch {
	case s.Identity == "":
		return service
	case strings.EqualFold(s.Identity, AppPoolIdentity), strings.EqualFold(s.Identity, NetworkService):
		return machine
	}
	return s.Identity
}

// DecryptingAccount applies IIS's rule: kernel mode without
// useAppPoolCredentials decrypts with the machine account's key; kernel
// mode with it, or user mode, decrypts with the pool identity's key.
func (s IISSettings) DecryptingAccount(service, machine string) string {
	if s.KernelMode() && !s.AppPoolCredentials() {
		return machine
	}
	return s.PoolAccount(service, machine)
}

// Explain says in one line why DecryptingAccount chose its account.
func (s IISSettings) Explain(service, machine string) string {
	acct := s.DecryptingAccount(service, machine)
	switch {
	case s.KernelMode() && !s.AppPoolCredentials():
		return fmt.Sprintf("useKernelMode=True, useAppPoolCredentials=False: http.sys decrypts with the machine key (%s)", acct)
	case s.KernelMode():
		return fmt.Sprintf("useKernelMode=True, useAppPoolCredentials=True: decrypts with the pool identity's key (%s)", acct)
	}
	return fmt.Sprintf("useKernelMode=False: the worker decrypts as its identity (%s)", acct)
}

// Bool returns a pointer to b, for IISSettings literals.
func Bool(b bool) *bool { return &b }

// MaxHTTPSysRequestBytes is the largest MaxRequestBytes http.sys takes.
const MaxHTTPSysRequestBytes = 16777216

// Validate checks the header limits against the ranges http.sys accepts
// (MaxFieldLength 64-65534, MaxRequestBytes 256-16777216; 0 = the
// default); at prefixes each error's path, e.g. "backends[1]".
func (s IISSettings) Validate(at string) error {
	var errs []error
	if f := s.MaxFieldLength; f != 0 && (f < 64 || f > backend.MaxHTTPSysFieldLength) {
		errs = append(errs, fmt.Errorf("%smaxFieldLength %d: http.sys takes 64-%d (0 = %d)", prefix(at), f, backend.MaxHTTPSysFieldLength, backend.DefaultMaxFieldLength))
	}
	if r := s.MaxRequestBytes; r != 0 && (r < 256 || r > MaxHTTPSysRequestBytes) {
		errs = append(errs, fmt.Errorf("%smaxRequestBytes %d: http.sys takes 256-%d (0 = %d)", prefix(at), r, MaxHTTPSysRequestBytes, backend.DefaultMaxRequestBytes))
	}
	return errors.Join(errs...)
}

func prefix(at string) string {
	if at == "" {
		return ""
	}
	return at + "."
}
