package backend

import (
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Reasons given in AuthError.Name and in the log key "reason". The Kerberos
// ones are the RFC 4120 error names; the others have code 0.
const (
	ReasonModified     = "KRB_AP_ERR_MODIFIED"
	ReasonBadKeyVer    = "KRB_AP_ERR_BADKEYVER"
	ReasonNoKey        = "KRB_AP_ERR_NOKEY"
	ReasonSkew         = "KRB_AP_ERR_SKEW"
	ReasonTktExpired   = "KRB_AP_ERR_TKT_EXPIRED"
	ReasonTktNYV       = "KRB_AP_ERR_TKT_NYV"
	ReasonRepeat       = "KRB_AP_ERR_REPEAT"
	ReasonNotUs        = "KRB_AP_ERR_NOT_US"
	ReasonBadIntegrity = "KRB_AP_ERR_BAD_INTEGRITY"
	ReasonBadMatch     = "KRB_AP_ERR_BADMATCH"
	ReasonNTLM         = "NTLM"
	ReasonMalformed    = "MALFORMED_TOKEN"
	ReasonNoAuth       = "NO_AUTH"
	ReasonHeaderTooBig = "HEADER_TOO_LONG"
	// ReasonReplayCacheFull: the replay cache was full of unexpired
	// authenticators, so a new one could not be remembered and was refused.
	ReasonReplayCacheFull = "REPLAY_CACHE_FULL"

	// NTLM failures, with their 4625 sub-status.
	ReasonNTLMNoUser      = "NTLM_NO_SUCH_USER"   // 0xC0000064
	ReasonNTLMBadPassword = "NTLM_WRONG_PASSWORD" // 0xC000006A
	ReasonNTLMNoChallenge = "NTLM_NO_CHALLENGE"   // AUTHENTICATE on a connection that got no challenge
	ReasonNTLMv1          = "NTLM_V1_REFUSED"     // only NTLMv2 is accepted (LmCompatibilityLevel 5)
	ReasonNTLMBadMIC      = "NTLM_MIC_INVALID"    // the AUTHENTICATE's MIC does not cover the messages sent

	// ReasonNoBatchRight: the app pool identity lacks SeBatchLogonRight.
	ReasonNoBatchRight = "LOGON_TYPE_NOT_GRANTED"

	// Extended Protection (extendedProtection) refusals, 4625 status
	// 0xC000035B STATUS_BAD_BINDINGS.
	ReasonBindingMissing  = "EPA_CHANNEL_BINDING_MISSING"  // Require: the token carries no channel bindings
	ReasonBindingMismatch = "EPA_CHANNEL_BINDING_MISMATCH" // its bindings are for another TLS channel, or none exists here
	ReasonServiceBinding  = "EPA_SERVICE_BINDING"          // flags Proxy: the ticket's SPN is not in spns
)

// AuthError is why a Negotiate token was refused. Code is the Kerberos
// error code (0 for NTLM and malformed tokens), Name its RFC 4120 name or
// one of the other Reason constants, Detail a human explanation. It never
// holds token, ticket or key bytes.
type AuthError struct {
	Code   int32
	Name   string
	Detail string
	// User is the client principal when the ticket could be decrypted
	// (skew, replay, ...); "" when it could not (Windows logs "-").
	User string
	// Package is the 4625 authentication package when the reason alone
	// does not tell it (an Extended Protection refusal of an NTLM logon).
	Package string
}

// withUser names the ticket's client on a refusal.
func withUser(err error, user string) error {
	if ae, ok := err.(*AuthError); ok {
		ae.User = user
	}
	return err
}

// Error implements error.
func (e *AuthError) Error() string {
	if e.Code == 0 {
		return fmt.Sprintf("%s: %s", e.Name, e.Detail)
	}
	return fmt.Sprintf("%s (%d): %s", e.Name, e.Code, e.Detail)
}

func krbErr(code int32, detail string, args ...any) *AuthError {
	return &AuthError{Code: code, Name: codeName(code), Detail: fmt.Sprintf(detail, args...)}
}

func malformed(detail string, args ...any) *AuthError {
	return &AuthError{Name: ReasonMalformed, Detail: fmt.Sprintf(detail, args...)}
}

func codeName(code int32) string {
	switch code {
	case errorcode.KRB_AP_ERR_MODIFIED:
		return ReasonModified
	case errorcode.KRB_AP_ERR_BADKEYVER:
		return ReasonBadKeyVer
	case errorcode.KRB_AP_ERR_NOKEY:
		return ReasonNoKey
	case errorcode.KRB_AP_ERR_SKEW:
		return ReasonSkew
	case errorcode.KRB_AP_ERR_TKT_EXPIRED:
		return ReasonTktExpired
	case errorcode.KRB_AP_ERR_TKT_NYV:
		return ReasonTktNYV
	case errorcode.KRB_AP_ERR_REPEAT:
		return ReasonRepeat
	case errorcode.KRB_AP_ERR_NOT_US:
		return ReasonNotUs
	case errorcode.KRB_AP_ERR_BAD_INTEGRITY:
		return ReasonBadIntegrity
	case errorcode.KRB_AP_ERR_BADMATCH:
		return ReasonBadMatch
	}
	return fmt.Sprintf("KRB_ERR_%d", code)
}
