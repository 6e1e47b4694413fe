package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
)

// passwordEnv holds the password of a principal outside the directory.
const passwordEnv = "KRBFARM_PASSWORD"

// stateFlags are --state and --krb-path, for commands on a running farm.
type stateFlags struct{ state, krbPath string }

func (sf *stateFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&sf.state, "state", "", "state directory of the running farm")
	cmd.Flags().StringVar(&sf.krbPath, "krb-path", "", "where to find kadmin.local")
	cmd.MarkFlagRequired("state")
}

// stateFlagsFor names the flags of the fields OpenAdmin's errors name.
var stateFlagsFor = flagFor{"state_dir": "state", "krb_path": "krb-path"}

func (sf *stateFlags) admin() (*lab.Admin, error) {
	a, err := lab.OpenAdmin(sf.state, sf.krbPath)
	if err != nil {
		return nil, &exitError{code: 2, err: stateFlagsFor.explain(err, nil, "")}
	}
	// For kinit and doctor --user of a principal krbfarm did not create:
	// from the environment, never a flag.
	a.Password = os.Getenv(passwordEnv)
	return a, nil
}

// refusedInput gives a name or password the lab refused exit status 2, as
// a usage error, and names the argument or flag it came from (fields maps
// the library's field names to the CLI's).
func refusedInput(err error, fields map[string]string) error {
	var ne *kdc.NameError
	if !errors.As(err, &ne) {
		return err
	}
	if f, ok := fields[ne.Field]; ok && err.Error() == ne.Error() {
		renamed := *ne
		renamed.Field = f
		err = &renamed
	}
	return &exitError{code: 2, err: err}
}

func newAccountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "List accounts and reset passwords in a running farm's directory"}
	cmd.AddCommand(newAccountListCmd(), newAccountAddCmd(), newResetPasswordCmd(), newRotateCmd(), newMoveCmd())
	return cmd
}

func newAccountListCmd() *cobra.Command {
	var sf stateFlags
	cmd := &cobra.Command{
		Use: "list", Short: "List the directory's accounts with kvno, enctypes and SPNs", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			d, err := a.Directory()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%-22s %-8s %-5s %-50s %s\n", "ACCOUNT", "KIND", "KVNO", "ENCTYPES", "SPNS")
			for _, acct := range d.Accounts {
				fmt.Fprintf(out, "%-22s %-8s %-5d %-50s %s\n", d.Qualified(acct), acct.Kind, acct.KVNO, strings.Join(acct.Enctypes, ","), strings.Join(acct.SPNs, " "))
			}
			others, err := a.Unmanaged(cmd.Context())
			if err != nil {
				return err
			}
			for _, p := range others {
				fmt.Fprintf(out, "%-22s %-8s (made outside krbfarm: left alone; kinit with $%s)\n", p, "unmanaged", passwordEnv)
			}
			for _, h := range d.Hosts {
				fmt.Fprintf(out, "host %-8s %s; clock offset %s\n", h.Name, h.IIS.Explain(d.Service, h.Machine), h.ClockOffset)
			}
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}

func newResetPasswordCmd() *cobra.Command {
	var (
		sf       stateFlags
		password string
	)
	cmd := &cobra.Command{
		Use:   "reset-password ACCOUNT",
		Short: "Reset an account's password (kvno+1), like Set-ADAccountPassword -Reset",
		Long: `reset-password gives ACCOUNT a new password; its kvno goes up by one and the
KDC issues tickets with the new key at once. A machine account's own host
follows by itself; hosts using a shared account keep the old key until
'krbfarm keytab push HOST'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			acct, err := a.ResetPassword(cmd.Context(), args[0], password)
			if err != nil {
				return refusedInput(err, map[string]string{"password": "--password"})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: password reset, kvno now %d\n", acct.Name, acct.KVNO)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&password, "password", "", "the new password (default: random)")
	return cmd
}

func newKtpassCmd() *cobra.Command {
	var (
		sf  stateFlags
		out string
	)
	cmd := &cobra.Command{
		Use:     "ktpass ACCOUNT --out FILE",
		Short:   "Export an account's current keys (its SPNs, kvno, enctypes) to a keytab (0600), like ktpass /out",
		Example: `  krbfarm ktpass --state DIR 'KRBFARM\svc-web' --out svc.keytab && klist -kte svc.keytab`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			acct, err := a.ExportKeytab(args[0], out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Key created. Output keytab to %s: %s kvno %d, %d SPN(s), %s\n",
				out, acct.Name, acct.KVNO, len(acct.SPNs), strings.Join(acct.Enctypes, ","))
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&out, "out", "", "keytab file to write")
	cmd.MarkFlagRequired("out")
	return cmd
}

func newKeytabCmd() *cobra.Command {
	var (
		sf       stateFlags
		enctypes []string
	)
	push := &cobra.Command{
		Use:   "push HOST",
		Short: "Give a host the current keys of its accounts; it reloads at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			if err := a.PushKeytab(cmd.Context(), args[0], enctypes); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keytab pushed to %s and reloaded\n", args[0])
			return nil
		},
	}
	sf.register(push)
	push.Flags().StringSliceVar(&enctypes, "enctypes", nil, "only these enctypes, e.g. arcfour-hmac (default: the account's)")
	cmd := &cobra.Command{Use: "keytab", Short: "Distribute keytabs to hosts"}
	cmd.AddCommand(push)
	return cmd
}
