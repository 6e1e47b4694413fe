// Package doctor diagnoses a Kerberos web farm the way a Windows admin
// does by hand (setspn -Q, klist get, klist -kte, Invoke-WebRequest per
// host and through the load balancer, w32tm) and names the catalogue entry
// (Explain, Finding) its trouble matches. Diagnose examines a lab farm
// through the narrow Lab interface; DiagnoseExternal examines a real
// deployment from outside, with no lab state at all.
//
// Typical use:
//
//	r, err := doctor.Diagnose(ctx, farm.Admin(), doctor.Options{})
//	if err != nil { ... }
//	r.Print(os.Stdout, "")
//	if !r.Healthy() { f, _ := doctor.Explain(r.Cause); fmt.Println(f.Fix) }
package doctor
