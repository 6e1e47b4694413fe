package krbhttp

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/messages"
)

func TestAsKerberosError(t *testing.T) {
	krb := messages.KRBError{ErrorCode: errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN}
	for _, tt := range []struct {
		name string
		err  error
		code int32
		want string // "" = not a Kerberos error
	}{
		{"gokrb5 KRBError", krb, 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{"wrapped text", fmt.Errorf("[Root cause: KDC_Error] %v", krb), 7, "KDC_ERR_S_PRINCIPAL_UNKNOWN"},
		{"name only", errors.New("verify: KRB_AP_ERR_SKEW clock skew too great"), errorcode.KRB_AP_ERR_SKEW, "KRB_AP_ERR_SKEW"},
		{"not Kerberos", errors.New("dial tcp: connection refused"), 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := fmt.Errorf("get ticket: %w", AsKerberosError(tt.err))
			var ke *KerberosError
			if got := errors.As(err, &ke); got != (tt.want != "") {
				t.Fatalf("errors.As = %v; want %v", got, tt.want != "")
			}
			if tt.want == "" {
				return
			}
			if ke.Code != tt.code || ke.Name != tt.want {
				t.Errorf("got {%d %s}; want {%d %s}", ke.Code, ke.Name, tt.code, tt.want)
			}
			if !IsKerberosCode(err, tt.code) || ErrorName(err) != tt.want {
				t.Errorf("IsKerberosCode/ErrorName disagree: %v %q", IsKerberosCode(err, tt.code), ErrorName(err))
			}
		})
	}
}
