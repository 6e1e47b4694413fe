package directory

import (
	"strings"
	"testing"
)

func TestDecryptingAccount(t *testing.T) {
	const svc, machine = "svc-web", "SERVER1$"
	tests := []struct {
		name string
		s    IISSettings
		want string
	}{
		{"lab default: pool svc-web, kernel, app pool creds", IISSettings{}, svc},
		{"IIS default: kernel on, app pool creds off", IISSettings{UseAppPoolCredentials: Bool(false)}, machine},
		{"kernel on, app pool creds on", IISSettings{Identity: svc, UseKernelMode: Bool(true), UseAppPoolCredentials: Bool(true)}, svc},
		{"kernel off, pool svc-web", IISSettings{Identity: svc, UseKernelMode: Bool(false), UseAppPoolCredentials: Bool(false)}, svc},
		{"kernel off ignores app pool creds", IISSettings{Identity: svc, UseKernelMode: Bool(false), UseAppPoolCredentials: Bool(true)}, svc},
		{"ApplicationPoolIdentity, kernel, app pool creds", IISSettings{Identity: AppPoolIdentity}, machine},
		{"NetworkService, kernel off", IISSettings{Identity: "networkservice", UseKernelMode: Bool(false)}, machine},
		{"ApplicationPoolIdentity, IIS defaults", IISSettings{Identity: AppPoolIdentity, UseAppPoolCredentials: Bool(false)}, machine},
		{"other account, kernel off", IISSettings{Identity: "svc-other", UseKernelMode: Bool(false)}, "svc-other"},
		{"other account, kernel on, creds off", IISSettings{Identity: "svc-other", UseAppPoolCredentials: Bool(false)}, machine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.s.DecryptingAccount(svc, machine); got != tt.want {
				t.Errorf("DecryptingAccount = %q; want %q (%s)", got, tt.want, tt.s.Explain(svc, machine))
			}
		})
	}
}

// TestIISValidateHeaderLimits: iis --maxFieldLength 70000 was accepted,
// though http.sys takes at most 65534.
func TestIISValidateHeaderLimits(t *testing.T) {
	tests := []struct {
		s       IISSettings
		wantErr string
	}{
		{IISSettings{}, ""},
		{IISSettings{MaxFieldLength: 65534, MaxRequestBytes: 16777216}, ""},
		{IISSettings{MaxFieldLength: 70000}, "backends[0].maxFieldLength 70000: http.sys takes 64-65534"},
		{IISSettings{MaxFieldLength: -1}, "maxFieldLength -1"},
		{IISSettings{MaxRequestBytes: 16777217}, "backends[0].maxRequestBytes 16777217: http.sys takes 256-16777216"},
	}
	for _, tt := range tests {
		err := tt.s.Validate("backends[0]")
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.s, err, tt.wantErr)
		}
	}
}
