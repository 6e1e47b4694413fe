package scenario

import (
	"context"
	"io"

	"github.com/krbfarm/krbfarm/lab/doctor"
)

// The phases of Run, one at a time, for a front end that steps through a
// scenario (the dashboard): Break, then ShowSymptom, Diagnose, Mend and
// Verify. Each prints what Run prints for it.

// Target is the name users browse to in this scenario: the FQDN, or the
// alias.
func (sc *Scenario) Target(l Lab) string {
	if sc.Alias != "" {
		return aliasName(l)
	}
	return l.SiteName()
}

// ShowSymptom sends n requests as the scenario's user, as Run's step 2,
// and reports whether the symptom appeared.
func (sc *Scenario) ShowSymptom(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	return sc.symptom(ctx, l, out, sc.Target(l), n)
}

// Diagnose runs the doctor, as Run's step 3, prints its report and says
// whether it named the scenario's cause.
func (sc *Scenario) Diagnose(ctx context.Context, l Lab, out io.Writer) (*doctor.Report, bool, error) {
	rep, err := doctor.Diagnose(ctx, l, doctor.Options{Name: sc.Target(l), Browser: sc.Browser, User: sc.User})
	if err != nil {
		return nil, false, err
	}
	rep.Print(out, "   ")
	return rep, rep.Cause == sc.Cause || (rep.Cause == "" && contains(rep.Warns, sc.Cause)), nil
}

// Mend applies the scenario's fix, as Run's step 4.
func (sc *Scenario) Mend(ctx context.Context, l Lab, out io.Writer) error {
	return runSteps(ctx, l, out, sc.Fix)
}

// Verify sends n requests again, as Run's step 5, and reports whether
// they all succeeded.
func (sc *Scenario) Verify(ctx context.Context, l Lab, out io.Writer, n int) (bool, error) {
	return sc.verify(ctx, l, out, sc.Target(l), n)
}

// Commands are the Windows commands of the setup and of the fix, with the
// farm's names filled in.
func (sc *Scenario) Commands(l Lab) (setup, fix []string) {
	for _, st := range sc.Setup {
		setup = append(setup, fill(st.Windows, l))
	}
	for _, st := range sc.Fix {
		fix = append(fix, fill(st.Windows, l))
	}
	return setup, fix
}
