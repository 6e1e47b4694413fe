package krbhttp

import (
	"errors"
	"regexp"
	"strconv"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// KerberosError is a Kerberos error a KDC answered (RFC 4120 section
// 7.5.9), e.g. Code 7, Name KDC_ERR_S_PRINCIPAL_UNKNOWN. gokrb5 reports
// these as text; this package reads that text once, where it calls
// gokrb5, and callers use errors.As.
type KerberosError struct {
	Code int32  // the error-code; 0 when only the name was found
	Name string // e.g. KRB_AP_ERR_SKEW
	Err  error  // gokrb5's error
}

func (e *KerberosError) Error() string { return e.Err.Error() }
func (e *KerberosError) Unwrap() error { return e.Err }

// krbErrText finds "(7) KDC_ERR_S_PRINCIPAL_UNKNOWN" (gokrb5's
// errorcode.Lookup) or, failing that, the name alone.
var (
	krbErrCoded = regexp.MustCompile(`\((\d+)\) (K(?:DC|RB)_(?:ERR|AP_ERR)_[A-Z_]+)`)
	krbErrName  = regexp.MustCompile(`K(?:DC|RB)_(?:ERR|AP_ERR)_[A-Z_]+`)
)

// AsKerberosError returns err as a *KerberosError when its text (gokrb5's)
// names a Kerberos error, else err unchanged. Call it where gokrb5
// returns; nil stays nil, and an err already holding one is kept.
func AsKerberosError(err error) error {
	var ke *KerberosError
	if err == nil || errors.As(err, &ke) {
		return err
	}
	text := err.Error()
	if m := krbErrCoded.FindStringSubmatch(text); m != nil {
		code, _ := strconv.ParseInt(m[1], 10, 32)
		return &KerberosError{Code: int32(code), Name: m[2], Err: err}
	}
	if name := krbErrName.FindString(text); name != "" {
		return &KerberosError{Code: codeOf(name), Name: name, Err: err}
	}
	return err
}

// kerberosError is AsKerberosError, for this package's own calls.
func kerberosError(err error) error { return AsKerberosError(err) }

// codeOf is the error-code of a Kerberos error name, 0 if unknown.
func codeOf(name string) int32 {
	for code := int32(0); code < 100; code++ {
		if m := krbErrCoded.FindStringSubmatch(errorcode.Lookup(code)); m != nil && m[2] == name {
			return code
		}
	}
	return 0
}

// ErrorName is the Kerberos error's name in err (KRB_AP_ERR_SKEW), or
// err's text when it holds none.
func ErrorName(err error) string {
	var ke *KerberosError
	if errors.As(err, &ke) {
		return ke.Name
	}
	return err.Error()
}

// IsKerberosCode reports whether err holds the Kerberos error code.
func IsKerberosCode(err error, code int32) bool {
	var ke *KerberosError
	return errors.As(err, &ke) && ke.Code == code
}
