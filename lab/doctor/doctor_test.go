package doctor

import "testing"

// TestFrontDoorKeepsThePort is issue 9's "the doctor's LB line drops the
// port": the line named https://sso.krbfarm.localhost/ for a farm on 8443.
func TestFrontDoorKeepsThePort(t *testing.T) {
	tests := []struct{ name, lb, want string }{
		{"sso.krbfarm.localhost", "127.0.0.1:8443", "https://sso.krbfarm.localhost:8443/"},
		{"web.krbfarm.localhost", "127.0.0.1:41234", "https://web.krbfarm.localhost:41234/"},
		{"sso.corp.example", "10.0.0.1:443", "https://sso.corp.example/"},
		{"sso.krbfarm.localhost", "", "https://sso.krbfarm.localhost/"},
	}
	for _, tt := range tests {
		if got := FrontDoor(tt.name, tt.lb); got != tt.want {
			t.Errorf("FrontDoor(%q, %q) = %q; want %q", tt.name, tt.lb, got, tt.want)
		}
	}
}
