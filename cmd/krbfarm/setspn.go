package main

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
)

// newSetspnCmd is setspn.exe against a running farm: the same flags and
// wording, effective in the KDC and on the hosts at once.
func newSetspnCmd() *cobra.Command {
	var (
		state, krbPath   string
		s, a, d, l, q, x bool
	)
	cmd := &cobra.Command{
		Use:   "setspn (-S|-A|-D) SPN ACCOUNT | -L ACCOUNT | -Q SPN | -X",
		Short: "Register, remove and query SPNs in a running farm's directory, like setspn.exe",
		Example: `  krbfarm setspn --state DIR -Q HTTP/sso.krbfarm.localhost
  krbfarm setspn --state DIR -S HTTP/sso.krbfarm.localhost 'KRBFARM\svc-web'
  krbfarm setspn --state DIR -D HTTP/sso.krbfarm.localhost 'SERVER1$'
  krbfarm setspn --state DIR -L svc-web
  krbfarm setspn --state DIR -X`,
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, err := lab.OpenAdmin(state, krbPath)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			out := cmd.OutOrStdout()
			switch {
			case s || a:
				return setspnAdd(cmd, adm, args, s)
			case d:
				if len(args) != 2 {
					return fmt.Errorf("usage: setspn -D SPN ACCOUNT")
				}
				if err := adm.DeleteSPN(cmd.Context(), args[0], args[1]); err != nil {
					return refusedInput(err, map[string]string{"spn": "SPN"})
				}
				fmt.Fprintf(out, "Unregistering ServicePrincipalNames from %s\n\t%s\nUpdated object\n", args[1], args[0])
				return nil
			case l:
				return setspnList(out, adm, args)
			case q:
				return setspnQuery(out, adm, args)
			case x:
				return setspnDuplicates(out, adm)
			}
			return fmt.Errorf("give one of -S, -A, -D, -L, -Q, -X (see --help)")
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "state directory of the running farm")
	f.StringVar(&krbPath, "krb-path", "", "where to find kadmin.local")
	f.BoolVarP(&s, "S", "S", false, "add SPN to ACCOUNT after checking the whole directory for duplicates")
	f.BoolVarP(&a, "A", "A", false, "add SPN to ACCOUNT without checking (how duplicates happen)")
	f.BoolVarP(&d, "D", "D", false, "delete SPN from ACCOUNT")
	f.BoolVarP(&l, "L", "L", false, "list the SPNs of ACCOUNT")
	f.BoolVarP(&q, "Q", "Q", false, "find the account(s) holding SPN")
	f.BoolVarP(&x, "X", "X", false, "list duplicate SPNs")
	cmd.MarkFlagRequired("state")
	return cmd
}

func setspnAdd(cmd *cobra.Command, adm *lab.Admin, args []string, check bool) error {
	if len(args) != 2 {
		return fmt.Errorf("usage: setspn -S|-A SPN ACCOUNT")
	}
	out := cmd.OutOrStdout()
	if check {
		fmt.Fprintf(out, "Checking domain %s\n", adm.Info.Realm)
	}
	err := adm.SetSPN(cmd.Context(), args[0], args[1], check)
	var dup *directory.DuplicateSPNError
	if errors.As(err, &dup) {
		fmt.Fprintf(out, "%s is held by:\n", dup.SPN)
		for _, h := range dup.Holders {
			fmt.Fprintf(out, "\t%s\n", h)
		}
		fmt.Fprintln(out, "\nDuplicate SPN found, aborting operation!")
		return &exitError{code: 1, err: errors.New("duplicate SPN found, aborting operation")}
	}
	if err != nil {
		return refusedInput(err, map[string]string{"spn": "SPN"})
	}
	fmt.Fprintf(out, "Registering ServicePrincipalNames for %s\n\t%s\nUpdated object\n", args[1], args[0])
	return nil
}

func setspnList(out io.Writer, adm *lab.Admin, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: setspn -L ACCOUNT")
	}
	d, err := adm.Directory()
	if err != nil {
		return err
	}
	a := d.Account(args[0])
	if a == nil {
		return &directory.NoAccountError{Name: args[0]}
	}
	fmt.Fprintf(out, "Registered ServicePrincipalNames for %s (kvno %d):\n", d.Qualified(a), a.KVNO)
	for _, s := range a.SPNs {
		fmt.Fprintf(out, "\t%s\n", s)
	}
	return nil
}

func setspnQuery(out io.Writer, adm *lab.Admin, args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: setspn -Q SPN")
	}
	d, err := adm.Directory()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Checking domain %s\n", d.Realm)
	hs := d.Holders(args[0])
	if len(hs) == 0 {
		fmt.Fprintln(out, "\nNo such SPN found.")
		return &exitError{code: 1, err: fmt.Errorf("no such SPN found: %s", args[0])}
	}
	for _, a := range hs {
		fmt.Fprintf(out, "%s (%s, kvno %d)\n", d.Qualified(a), a.Kind, a.KVNO)
		for _, s := range a.SPNs {
			fmt.Fprintf(out, "\t%s\n", s)
		}
	}
	fmt.Fprintln(out, "\nExisting SPN found!")
	return nil
}

func setspnDuplicates(out io.Writer, adm *lab.Admin) error {
	d, err := adm.Directory()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Checking domain %s\nProcessing entries\n", d.Realm)
	dups := d.Duplicates()
	spns := make([]string, 0, len(dups))
	for s := range dups {
		spns = append(spns, s)
	}
	sort.Strings(spns)
	for _, s := range spns {
		fmt.Fprintf(out, "%s is registered on these accounts:\n", s)
		for _, a := range dups[s] {
			fmt.Fprintf(out, "\t%s\n", d.Qualified(a))
		}
	}
	fmt.Fprintf(out, "\nfound %d group of duplicate SPNs.\n", len(dups))
	return nil
}
