package directory

import "testing"

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
