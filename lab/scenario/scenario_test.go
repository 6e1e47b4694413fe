package scenario

import (
	"strings"
	"testing"

	"github.com/krbfarm/krbfarm/lab/doctor"
)

// siteLab answers only SiteName; the rest of Lab is nil.
type siteLab struct {
	Lab
	site string
}

func (l siteLab) SiteName() string { return l.site }

func TestResultLineSaysWhatIsTrue(t *testing.T) {
	ok := Result{Symptom: true, Diagnosed: true, Cured: true, Report: &doctor.Report{}}
	tests := []struct {
		name, want, notWant string
	}{
		{"healthy", "no symptom (every request served) · diagnosis named healthy · nothing to fix", "cured"},
		{"replay-across-hosts", "symptom seen · diagnosis named replay-across-hosts · no setting cures it", "cured it"},
		{"stale-keytab", "symptom seen · diagnosis named stale-keytab · fix cured it", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := Find(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			got := sc.resultLine(ok)
			if !strings.Contains(got, tt.want) || (tt.notWant != "" && strings.Contains(got, tt.notWant)) {
				t.Errorf("resultLine = %q; want %q without %q", got, tt.want, tt.notWant)
			}
		})
	}
}

func TestDoctorOptionsDefaultToTheScenario(t *testing.T) {
	l := siteLab{site: "sso.krbfarm.localhost"}
	tests := []struct {
		name string
		in   doctor.Options
		want doctor.Options
	}{
		{"large-token", doctor.Options{}, doctor.Options{Name: "sso.krbfarm.localhost", User: "bob"}},
		{"large-token", doctor.Options{User: "alice"}, doctor.Options{Name: "sso.krbfarm.localhost", User: "alice"}},
		{"alias-name", doctor.Options{}, doctor.Options{Name: "web.krbfarm.localhost"}},
		{"ntlm-fallback", doctor.Options{Requests: 3}, doctor.Options{Name: "sso.krbfarm.localhost", Browser: true, Requests: 3}},
		{"stale-keytab", doctor.Options{Name: "x.localhost"}, doctor.Options{Name: "x.localhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, err := Find(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if got := sc.DoctorOptions(l, tt.in); got != tt.want {
				t.Errorf("DoctorOptions(%+v) = %+v; want %+v", tt.in, got, tt.want)
			}
		})
	}
}
