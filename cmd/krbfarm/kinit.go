package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab/directory"
)

func newKinitCmd() *cobra.Command {
	var (
		sf    stateFlags
		cache string
	)
	cmd := &cobra.Command{
		Use:   "kinit [USER]",
		Short: "Log a farm user in and write an MIT credential cache, with the tickets a Windows client would hold",
		Long: `kinit logs USER (default: the farm's first user) in with the password the
farm's directory holds and writes the TGT to an MIT credential cache (0600),
as MIT kinit does. For a user in many groups ('krbfarm account add bob
--groups 600') it also caches the site's service ticket carrying the group
SIDs, issued by the real KDC: curl --negotiate and browsers take it from the
cache and send the same big token a Windows client in those groups sends.

The cache is -c, else $KRB5CCNAME, else the farm's default (krb5.conf's
default_ccache_name).`,
		Example: `  krbfarm kinit --state DIR bob && curl --negotiate -u : "$KRBFARM_URL"`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			user := ""
			if len(args) == 1 {
				user = args[0]
			}
			if cache == "" {
				cache = os.Getenv("KRB5CCNAME")
			}
			res, err := a.Kinit(cmd.Context(), user, cache)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Ticket cache: FILE:%s\nDefault principal: %s (TGT valid until %s)\n",
				res.Cache, res.Principal, res.Expires.Local().Format(time.DateTime))
			if res.Service != "" {
				fmt.Fprintf(out, "Service ticket: %s, %d bytes, carrying %d group SIDs\n", res.Service, res.TicketBytes, res.Groups)
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&cache, "cache", "c", "", "credential cache to write (default $KRB5CCNAME, else the farm's)")
	return cmd
}

func newAccountAddCmd() *cobra.Command {
	var (
		sf       stateFlags
		password string
		groups   int
		gmsa     bool
		hosts    []string
	)
	cmd := &cobra.Command{
		Use:   "add USER | add NAME$ --gmsa --hosts HOST,...",
		Short: "Add a user account, a member of N security groups, like New-ADUser and Add-ADGroupMember",
		Long: `add creates USER in the farm's realm and directory. With --groups N the
user's service tickets carry N group SIDs, as a Windows PAC does (about 32
bytes each): 600 groups make a Negotiate header over http.sys's 16384-byte
MaxFieldLength. Log in with 'krbfarm kinit USER' for curl and browsers.

With --gmsa it creates a group managed service account instead, as
New-ADServiceAccount NAME -PrincipalsAllowedToRetrieveManagedPassword: the
hosts named in --hosts fetch its password themselves, so when it is rotated
('krbfarm account rotate NAME') their keytabs follow without a push.`,
		Example: `  krbfarm account add --state DIR bob --groups 600
  krbfarm account add --state DIR 'gmsa-web$' --gmsa --hosts server1,server2`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			if gmsa {
				return addGMSA(cmd, a, args[0], hosts)
			}
			if groups < 0 {
				return fmt.Errorf("--groups %d: want 0 or more", groups)
			}
			if password == "" {
				password = args[0] + "-password"
			}
			if err := a.AddUser(cmd.Context(), args[0], password, groups); err != nil {
				return addUserError(err, sf.state)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s@%s added, member of %d groups; password %s\n", args[0], a.Info.Realm, groups, password)
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVar(&password, "password", "", "the user's password (default USER-password; lab realms are throwaway)")
	cmd.Flags().IntVar(&groups, "groups", 0, "security groups the user is a member of (their SIDs go in the user's tickets)")
	cmd.Flags().BoolVar(&gmsa, "gmsa", false, "a group managed service account (name ends with $) rather than a user")
	cmd.Flags().StringSliceVar(&hosts, "hosts", nil, "with --gmsa: the hosts allowed to retrieve its password (PrincipalsAllowedToRetrieveManagedPassword)")
	return cmd
}

// addUserError names the CLI's way out of a refused `account add`: for an
// existing account, the reset-password command that changes its password.
func addUserError(err error, state string) error {
	var exists *directory.AccountExistsError
	if errors.As(err, &exists) {
		return &exitError{code: 2, err: fmt.Errorf("account add: %s already exists (a %s account): to change its password run `krbfarm account reset-password --state %s %s [--password P]`",
			exists.Existing, exists.Kind, state, exists.Name)}
	}
	return refusedInput(err, map[string]string{"name": "USER", "password": "--password"})
}
