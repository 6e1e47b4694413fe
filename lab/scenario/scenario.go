package scenario

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"io"
	"strings"
	"time"
)

// Lab is the running farm a scenario breaks and mends: what the doctor
// examines, plus the directory changes an administrator makes and the
// hosts' health checks. *lab.Admin is one.
type Lab interface {
	doctor.Lab
	RealmName() string      // e.g. KRBFARM.LOCALHOST
	ServiceAccount() string // the shared account, e.g. svc-web
	SetSPN(ctx context.Context, spn, account string, check bool) error
	DeleteSPN(ctx context.Context, spn, account string) error
	ResetPassword(ctx context.Context, account, password string) (*directory.Account, error)
	PushKeytab(ctx context.Context, host string, enctypes []string) error
	SetKeytabEnctypes(ctx context.Context, host string, enctypes []string) error
	SetIIS(ctx context.Context, host string, fn func(*directory.IISSettings)) error
	SetClockOffset(ctx context.Context, host string, off time.Duration) error
	AddUser(ctx context.Context, name, password string, groups int) error
	// SetLBMode switches the load balancer between terminate (L4) and
	// l7-pooling (an L7 proxy pooling backend connections across clients).
	SetLBMode(ctx context.Context, mode string) error
	AddGMSA(ctx context.Context, name string, hosts []string) (*directory.Account, error)
	Rotate(ctx context.Context, account string) (*directory.Account, []directory.KeyState, error)
	LinkGPO(ctx context.Context, gpo, ou string, order int) (string, error)
	UnlinkGPO(ctx context.Context, gpo, ou string) (string, error)
	GPUpdate(ctx context.Context, host string) (directory.GPUpdateResult, error)
	// Health asks every host's /healthz and, when the LB runs in this
	// process, waits (bounded) for its checks to agree.
	Health(ctx context.Context) Health
}

// Health is what the hosts' health checks show.
type Health struct {
	Line   string   // e.g. "server1 200 up · server2 503 DOWN"
	LB     bool     // Line includes the LB's view of each host
	Broken []string // hosts whose /healthz did not answer 200
}

// Step is one administrator action, shown beside the Windows command it
// stands for. Do returns a note to print (e.g. setspn's refusal).
type Step struct {
	Windows string
	Do      func(ctx context.Context, l Lab) (string, error)
}

// Scenario is one entry of the failure catalogue, reproduced on purpose.
type Scenario struct {
	Name  string
	Title string
	Story string
	Cause string // the catalogue entry the doctor must name
	// Alias, if set, is the name users browse to instead of the FQDN.
	Alias string
	Setup []Step // what went wrong
	Fix   []Step // what the administrator does
	// Symptom, if set, replaces the usual LB sample (e.g. a replay).
	// It is given the number of requests to send.
	Symptom func(ctx context.Context, l Lab, out io.Writer, n int) (bool, error)
	// Verifier, if set, replaces the usual LB sample of step 5 (Verify),
	// as Symptom does step 2's; it reports whether the farm is cured.
	Verifier func(ctx context.Context, l Lab, out io.Writer, n int) (bool, error)
	// Browser: requests fall back to NTLM without a Kerberos ticket, as a
	// browser's do (ntlm-fallback); otherwise they fail as kinit/curl's.
	Browser bool
	// User is who meets the trouble; "" = the farm's first user.
	User string
	// NoCure: no setting cures it (its Fix only says what would); verify
	// then checks that ordinary requests are still served.
	NoCure bool
}

// Result is how a scenario run went.
type Result struct {
	Symptom, Diagnosed, Cured bool
	Report                    *doctor.Report
}

// OK reports whether the symptom appeared, the doctor named the cause and
// the fix cured it.
func (r Result) OK() bool { return r.Symptom && r.Diagnosed && r.Cured }

// Break applies the scenario's setup to a running farm, printing each step.
func (sc *Scenario) Break(ctx context.Context, l Lab, out io.Writer) error {
	return runSteps(ctx, l, out, sc.Setup)
}

// DoctorOptions fills what o leaves unset with what diagnosing this
// scenario needs: the name users browse to (the alias, if any), its user
// and its client (a browser's NTLM fallback). `krbfarm doctor` on a farm
// left broken with `up --scenario` uses them, as Run does.
func (sc *Scenario) DoctorOptions(l Lab, o doctor.Options) doctor.Options {
	if o.Name == "" {
		o.Name = l.SiteName()
		if sc.Alias != "" {
			o.Name = aliasName(l)
		}
	}
	o.User = cmp.Or(o.User, sc.User)
	o.Browser = o.Browser || sc.Browser
	return o
}

// Run breaks the farm, shows the symptom, diagnoses, fixes and verifies.
func (sc *Scenario) Run(ctx context.Context, l Lab, out io.Writer, requests int) (Result, error) {
	var res Result
	opts := sc.DoctorOptions(l, doctor.Options{Requests: requests}) // the doctor samples as many as the symptom
	name := opts.Name
	fmt.Fprintf(out, "Scenario %s: %s\n\n%s\n\n1. Setup (what went wrong)\n", sc.Name, sc.Title, wrap(fill(sc.Story, l), "   "))
	if err := sc.Break(ctx, l, out); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\n2. Symptom (%d requests through the load balancer to %s)\n", requests, doctor.FrontDoor(name, l.LBAddr()))
	var err error
	if res.Symptom, err = sc.symptom(ctx, l, out, name, requests); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\n3. Diagnosis (krbfarm doctor)\n")
	if res.Report, err = doctor.Diagnose(ctx, l, opts); err != nil {
		return res, err
	}
	res.Report.Print(out, "   ")
	res.Diagnosed = res.Report.Cause == sc.Cause || (res.Report.Cause == "" && contains(res.Report.Warns, sc.Cause))
	fmt.Fprintf(out, "\n4. Fix\n")
	if err := runSteps(ctx, l, out, sc.Fix); err != nil {
		return res, err
	}
	fmt.Fprintf(out, "\n5. Verify\n")
	if res.Cured, err = sc.verify(ctx, l, out, name, requests); err != nil {
		return res, err
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "Result: %s\n", sc.resultLine(res))
	return res, nil
}

// resultLine says how the run went, in words true of the scenario: a
// healthy farm has no symptom and nothing to fix; a scenario no setting
// cures (NoCure) says so rather than "fix cured it".
func (sc *Scenario) resultLine(res Result) string {
	symptom := "symptom " + yes(res.Symptom, "seen", "NOT SEEN")
	if sc.Cause == "" {
		symptom = yes(res.Symptom, "no symptom (every request served)", "UNEXPECTED FAILURES")
	}
	diag := "diagnosis " + yes(res.Diagnosed, "named "+cmp.Or(sc.Cause, "healthy"), "MISSED (got "+cmp.Or(res.Report.Cause, "healthy")+")")
	fix := "fix " + yes(res.Cured, "cured it", "DID NOT CURE")
	switch {
	case len(sc.Fix) == 0:
		fix = yes(res.Cured, "nothing to fix", "NOT SERVED")
	case sc.NoCure:
		fix = yes(res.Cured, "no setting cures it (ordinary requests still served)", "ORDINARY REQUESTS FAILED")
	}
	return symptom + " · " + diag + " · " + fix
}

func (sc *Scenario) symptom(ctx context.Context, l Lab, out io.Writer, name string, n int) (bool, error) {
	if sc.Symptom != nil {
		return sc.Symptom(ctx, l, out, n)
	}
	s, err := l.SampleAs(ctx, sc.User, name, n, sc.Browser)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "   %s\n", s)
	if s.OverNTLM() {
		fmt.Fprintf(out, "   works, but over NTLM: Kerberos was not used\n")
	}
	if sc.Cause == "" {
		return s.OK(), nil // healthy: the "symptom" is that all is well
	}
	return !s.OK(), nil
}

// verify is step 5: the scenario's own check, or n requests as its user
// that must all succeed.
func (sc *Scenario) verify(ctx context.Context, l Lab, out io.Writer, name string, n int) (bool, error) {
	if sc.Verifier != nil {
		return sc.Verifier(ctx, l, out, n)
	}
	s, err := l.SampleAs(ctx, sc.User, name, n, sc.Browser)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "   %s\n", s)
	return s.OK(), nil
}

func runSteps(ctx context.Context, l Lab, out io.Writer, steps []Step) error {
	if len(steps) == 0 {
		fmt.Fprintf(out, "   (nothing to do)\n")
	}
	for _, st := range steps {
		fmt.Fprintf(out, "   > %s\n", fill(st.Windows, l))
		note, err := st.Do(ctx, l)
		if err != nil {
			return fmt.Errorf("%s: %w", st.Windows, err)
		}
		if note != "" {
			fmt.Fprintf(out, "     %s\n", strings.ReplaceAll(note, "\n", "\n     "))
		}
	}
	return nil
}

// Find returns the scenario called name.
func Find(name string) (*Scenario, error) {
	for _, sc := range All() {
		if sc.Name == name {
			return sc, nil
		}
	}
	var names []string
	for _, sc := range All() {
		names = append(names, sc.Name)
	}
	return nil, fmt.Errorf("no scenario %q: choose one of %s", name, strings.Join(names, ", "))
}

// dupNote runs setspn -S and turns a refusal into setspn's own output.
func dupNote(err error) (string, error) {
	var dup *directory.DuplicateSPNError
	if errors.As(err, &dup) {
		return fmt.Sprintf("Checking domain ...\n%s is held by: %s\nDuplicate SPN found, aborting operation!", dup.SPN, strings.Join(dup.Holders, ", ")), nil
	}
	if err != nil {
		return "", err
	}
	return "Updated object", nil
}

func yes(b bool, y, n string) string {
	if b {
		return y
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func wrap(s, indent string) string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if len(line)+len(w) > 76 {
			lines = append(lines, indent+line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	return strings.Join(append(lines, indent+line), "\n")
}
