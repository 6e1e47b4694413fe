package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/doctor"
	"github.com/krbfarm/krbfarm/lab/scenario"
	"io"
)

func newScenarioCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scenario", Short: "Reproduce, diagnose and fix the field's failures"}
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List the scenarios", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, sc := range scenario.All() {
				fmt.Fprintf(cmd.OutOrStdout(), "  %-28s %s\n", sc.Name, sc.Title)
			}
			return nil
		},
	}, newScenarioRunCmd())
	return cmd
}

func newScenarioRunCmd() *cobra.Command {
	var (
		ff       farmFlags
		requests int
	)
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Start a farm, break it as the scenario says, show the symptom, diagnose, fix, verify",
		Long: `run starts a throwaway farm and walks one failure through: setup (what went
wrong), symptom (requests through the load balancer, per backend), diagnosis
(the doctor), fix (each action beside the Windows command it stands for),
verify. Exit 0 only if the symptom appeared, the diagnosis named the cause
and the fix cured it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sc, err := scenario.Find(args[0])
			if err != nil {
				return err
			}
			cfg, err := ff.labConfig(cmd)
			if err == nil {
				err = ff.check(cmd, &cfg)
			}
			if err != nil {
				return err
			}
			farm, err := lab.Start(cmd.Context(), cfg, lab.WithLogger(newLogger(false, zap.ErrorLevel)))
			if err != nil {
				return ff.explain(cmd, err)
			}
			defer farm.Close()
			ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
			defer cancel()
			res, err := sc.Run(ctx, farm.Admin(), cmd.OutOrStdout(), requests)
			if err != nil {
				return err
			}
			if !res.OK() {
				return fmt.Errorf("scenario %s did not run as the catalogue says", sc.Name)
			}
			return nil
		},
	}
	ff.register(cmd, "127.0.0.1:0")
	cmd.Flags().IntVar(&requests, "requests", 6, "requests through the load balancer per phase")
	return cmd
}

// breakFarm applies a scenario's setup to a farm started by `up`; the
// diagnosis is printed only with hint.
func breakFarm(cmd *cobra.Command, farm *lab.Farm, name string, hint bool) error {
	sc, err := scenario.Find(name)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Scenario %s: something is wrong with this farm. Find it (krbfarm doctor --state %s) and fix it.\n", sc.Name, farm.Dir)
	if sc.User != "" {
		fmt.Fprintf(out, "The helpdesk ticket comes from %s: sign in as them with `krbfarm kinit --state %s %s`, then curl --negotiate.\n",
			sc.User, farm.Dir, sc.User)
	}
	if !hint {
		return sc.Break(cmd.Context(), farm.Admin(), io.Discard) // no hint: hands-on practice
	}
	fmt.Fprintln(out, "Hint: what was done:")
	if err := sc.Break(cmd.Context(), farm.Admin(), out); err != nil {
		return err
	}
	if f, ok := doctor.Explain(sc.Cause); ok {
		fmt.Fprintf(out, "Hint: %s\nFix:  %s\n", f.Title, f.Fix)
	}
	return nil
}
