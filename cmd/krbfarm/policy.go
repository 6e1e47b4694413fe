package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/directory"
)

// addGMSA is `account add NAME --gmsa --hosts ...`.
func addGMSA(cmd *cobra.Command, a *lab.Admin, name string, hosts []string) error {
	if len(hosts) == 0 {
		return &exitError{code: 2, err: fmt.Errorf("--gmsa needs --hosts: the hosts allowed to retrieve its password, e.g. --hosts server1,server2")}
	}
	acct, err := a.AddGMSA(cmd.Context(), name, hosts)
	if err != nil {
		return refusedInput(err, map[string]string{"name": "NAME"})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s\\%s added in %s (gMSA, kvno %d); allowed to retrieve its password: %s\n",
		strings.SplitN(a.Info.Realm, ".", 2)[0], acct.Name, directory.OUOf(acct), acct.KVNO, strings.Join(acct.AllowedHosts, ", "))
	return nil
}

func newRotateCmd() *cobra.Command {
	var sf stateFlags
	cmd := &cobra.Command{
		Use:   "rotate ACCOUNT",
		Short: "Rotate an account's password (random, kvno+1), as the domain does to a gMSA every 30 days",
		Long: `rotate gives ACCOUNT a new random password; its kvno goes up by one and the
KDC issues tickets with the new key at once. Hosts whose app pool runs as a
gMSA they may retrieve (PrincipalsAllowedToRetrieveManagedPassword) fetch
the new key themselves: their keytab is rewritten and reloaded. Hosts on a
plain account keep the old key until 'krbfarm keytab push HOST'. It prints
the key each host holds afterwards.`,
		Example: `  krbfarm account rotate --state DIR 'gmsa-web$'`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			acct, states, err := a.Rotate(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s: password rotated, kvno now %d\n", acct.Name, acct.KVNO)
			for _, k := range states {
				switch {
				case k.Current && k.Fetched:
					fmt.Fprintf(out, "  %-10s fetched the new key (kvno %d)\n", k.Host, k.KVNO)
				case k.Current:
					fmt.Fprintf(out, "  %-10s holds the current key (kvno %d)\n", k.Host, k.KVNO)
				default:
					fmt.Fprintf(out, "  %-10s STALE: still holds kvno %d until 'krbfarm keytab push %s'\n", k.Host, k.KVNO, k.Host)
				}
			}
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

func newMoveCmd() *cobra.Command {
	var sf stateFlags
	cmd := &cobra.Command{
		Use:     "move ACCOUNT OU",
		Short:   "Move an account to an OU, like Move-ADObject -TargetPath",
		Example: `  krbfarm account move --state DIR 'SERVER2$' 'OU=Staff'`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			ou, err := a.MoveAccount(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s moved to %s; hosts apply the policy of their OU at their next gpupdate\n", args[0], ou)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

func newGPOCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "gpo", Short: "List GPOs and link them to OUs (\"Log on as a batch job\"), like New-GPLink / Remove-GPLink"}
	var (
		lsf, usf, ksf stateFlags
		order         int
	)
	list := &cobra.Command{Use: "list", Short: "List the GPOs, their links, and each host's applied policy", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := lsf.admin()
			if err != nil {
				return err
			}
			d, err := a.Directory()
			if err != nil {
				return err
			}
			printGPOs(cmd, d)
			return nil
		}}
	link := &cobra.Command{Use: "link GPO OU [--order N]", Short: "Link a GPO to an OU (New-GPLink -Target; --order 1 = highest precedence)", Args: cobra.ExactArgs(2),
		Example: `  krbfarm gpo link --state DIR "IIS App Pool Logon" "OU=Web Servers" --order 1`,
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := ksf.admin()
			if err != nil {
				return err
			}
			ou, err := a.LinkGPO(cmd.Context(), args[0], args[1], order)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "GPO %q linked to %s; hosts apply it at their next gpupdate\n", args[0], ou)
			return nil
		}}
	unlink := &cobra.Command{Use: "unlink GPO OU", Short: "Remove a GPO's link to an OU (Remove-GPLink)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := usf.admin()
			if err != nil {
				return err
			}
			ou, err := a.UnlinkGPO(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "GPO %q unlinked from %s; hosts apply it at their next gpupdate\n", args[0], ou)
			return nil
		}}
	lsf.register(list)
	ksf.register(link)
	usf.register(unlink)
	link.Flags().IntVar(&order, "order", 0, "link order: 1 = highest precedence (default: last, as New-GPLink)")
	cmd.AddCommand(list, link, unlink)
	return cmd
}

func printGPOs(cmd *cobra.Command, d *directory.Directory) {
	out := cmd.OutOrStdout()
	for _, g := range d.GPOs {
		var links []string
		for _, ou := range d.OUs() {
			for i, n := range d.Links[ou] {
				if n == g.Name {
					links = append(links, fmt.Sprintf("%s (order %d)", ou, i+1))
				}
			}
		}
		fmt.Fprintf(out, "GPO %-22q Log on as a batch job: %s; linked to: %s\n", g.Name, strings.Join(g.BatchLogon, ", "), orNone(strings.Join(links, ", ")))
	}
	for _, h := range d.Hosts {
		ok, why := d.BatchRight(h)
		applied := "never ran gpupdate"
		if h.Policy != nil {
			applied = "last gpupdate applied: " + orNone(strings.Join(h.Policy.GPOs, ", "))
		}
		fmt.Fprintf(out, "host %-8s %s; pool %s: %s\n", h.Name, applied, map[bool]string{true: "started", false: "STOPPED"}[ok], why)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func newGPUpdateCmd() *cobra.Command {
	var (
		sf    stateFlags
		force bool
	)
	cmd := &cobra.Command{
		Use:   "gpupdate HOST [/force]",
		Short: "Apply on a host the GPOs linked to its computer account's OU, like gpupdate /force on it",
		Long: `gpupdate makes HOST apply the GPOs linked to the OU its computer account
sits in. "Log on as a batch job" takes effect on a host only then: its app
pool starts, or stops with event 5021 and 503s, as the winning GPO's list
says. Other hosts keep the policy they applied last.`,
		Example: `  krbfarm gpupdate --state DIR server2 /force`,
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 2 && !strings.EqualFold(args[1], "/force") {
				return &exitError{code: 2, err: fmt.Errorf("gpupdate HOST [/force]: unexpected %q", args[1])}
			}
			a, err := sf.admin()
			if err != nil {
				return err
			}
			res, err := a.GPUpdate(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Updating policy on %s (%s; GPOs applied: %s)...\nComputer Policy update has completed successfully.\n",
				args[0], res.Policy.OU, orNone(strings.Join(res.Policy.GPOs, ", ")))
			if res.BatchRight {
				fmt.Fprintf(out, "app pool sso started: %s\n", res.Why)
			} else {
				fmt.Fprintf(out, "event 5021: the application pool sso has been disabled: %s\n", res.Why)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "reapply every setting (the lab always does)")
	return cmd
}
