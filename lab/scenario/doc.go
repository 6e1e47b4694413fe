// Package scenario reproduces, on purpose, each entry of the failure
// catalogue a Kerberos web farm meets (SPN on the machine accounts,
// useAppPoolCredentials off, a stale keytab, clock skew, a large token,
// NTLM fallback, ...): each Scenario breaks the farm with the steps a
// Windows admin would take (shown beside their Windows commands), shows
// the symptom, runs the doctor, applies the fix and verifies it. It works
// on the narrow Lab interface, which *lab.Admin implements.
//
// Typical use:
//
//	sc, err := scenario.Find("stale-keytab")
//	if err != nil { ... }
//	res, err := sc.Run(ctx, farm.Admin(), os.Stdout, 4)
//	fmt.Println(res.OK()) // symptom seen, cause named, fix cured it
package scenario
