package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lb"
)

func newUpCmd() *cobra.Command {
	var (
		ff       farmFlags
		df       dashFlags
		scenario string
		hint     bool
		ownKDC   string
		keytab   string
		kadmin   string
		admin    string
		ready    string
	)
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Provision and run a farm until Ctrl-C (SIGINT) or SIGTERM",
		Long: `up provisions a real MIT KDC realm, starts the backend hosts and the load
balancer, prints how to use the farm, writes DIR/env and DIR/farm.json, and
runs until SIGINT or SIGTERM, then stops every process it started.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := ff.labConfig(cmd)
			if err != nil {
				return err
			}
			if hint && scenario == "" {
				return &exitError{code: 2, err: fmt.Errorf("--hint needs --scenario NAME (krbfarm scenario list)")}
			}
			if cfg.StateDir == "" {
				cfg.StateDir = defaultStateDir()
			}
			overlay(cmd.Flags(), "kdc", &cfg.KDC, ownKDC)
			overlay(cmd.Flags(), "keytab", &cfg.Keytab, keytab)
			overlay(cmd.Flags(), "kadmin", &cfg.Kadmin, kadmin)
			overlay(cmd.Flags(), "admin", &cfg.Admin, admin)
			if cfg.Kadmin != "" { // never a flag: it would show in ps and shell history
				cfg.AdminPassword = os.Getenv(lab.AdminPasswordEnv)
			}
			if err := ff.check(cmd, &cfg); err != nil {
				return err
			}
			if scenario != "" && cfg.KDC != "" && cfg.Kadmin == "" { // scenarios change accounts and keys
				return &exitError{code: 2, err: fmt.Errorf("--scenario: %w", &lab.NoKadminError{KDC: cfg.KDC, Realm: cfg.Realm})}
			}
			return ff.explain(cmd, runUp(cmd, cfg, upOptions{scenario: scenario, hint: hint, readyFile: ready, dash: df}))
		},
	}
	ff.register(cmd, lab.DefaultListen)
	cmd.Flags().StringVar(&scenario, "scenario", "", "leave the farm broken as this scenario says, for practice (krbfarm scenario list)")
	cmd.Flags().BoolVar(&hint, "hint", false, "with --scenario: say what was broken and how to fix it")
	df.register(cmd, "dashboard", `address of the live dashboard (127.0.0.1:0 = a free port; "off" = none)`)
	cmd.Flags().StringVar(&ownKDC, "kdc", "", "HOST:PORT of a KDC you run for --realm: no realm is provisioned, no kadmin.local runs (needs --keytab, or --kadmin and --admin)")
	cmd.Flags().StringVar(&keytab, "keytab", "", "with --kdc: the keytab you exported with the keys of HTTP/<fqdn>, copied to every host")
	cmd.Flags().StringVar(&kadmin, "kadmin", "", "with --kdc: HOST:PORT of its kadmind; krbfarm makes the accounts, SPNs and keys there with kadmin (no --keytab; directory commands and scenarios work)")
	cmd.Flags().StringVar(&admin, "admin", "", "with --kadmin: the principal kadmin authenticates as (e.g. admin/admin); its password comes from $"+lab.AdminPasswordEnv)
	cmd.Flags().StringVar(&ready, "ready-file", "", "write the farm's URL to this file once it is ready (with --scenario: broken); see also krbfarm wait")
	return cmd
}

// upOptions are up's flags beyond the farm's config.
type upOptions struct {
	scenario  string
	hint      bool
	readyFile string
	dash      dashFlags
}

func runUp(cmd *cobra.Command, cfg lab.Config, o upOptions) error {
	out := cmd.OutOrStdout()
	log := newLogger(false, zap.WarnLevel)
	// The farm's LB runs in this process: the same runtime settings as
	// krbfarm lb in its mode (see lbprocs.go).
	lbRuntime := lb.Config{Mode: cmp.Or(cfg.LB.Mode, lb.ModeTerminate)}
	setLBProcs(lbRuntime)
	setLBGC(lbRuntime)
	begin := time.Now()
	fmt.Fprintf(out, "krbfarm: starting a farm in %s\n", cfg.StateDir)
	kdcGone := make(chan lab.ChildExit, 1)
	farm, err := lab.Start(cmd.Context(), cfg, lab.WithLogger(log), lab.WithProgress(progressTo(out)),
		lab.WithChildExit(reportExit(cmd.ErrOrStderr(), kdcGone)), lab.WithScenario(o.scenario))
	if err != nil {
		return err
	}
	defer farm.Close()
	fmt.Fprintf(out, "  ready in %s\n\n", time.Since(begin).Round(time.Millisecond))
	ctx, stopDash := context.WithCancel(cmd.Context())
	defer stopDash()
	if o.dash.addr != "off" {
		url, err := serveDashboard(ctx, farm.Admin(), o.dash, log)
		if err != nil {
			return err
		}
		if err := farm.SetDashboard(url); err != nil {
			return err
		}
	}
	if o.scenario != "" { // broken before "Press Ctrl-C", so that line means ready
		if err := breakFarm(cmd, farm, o.scenario, o.hint); err != nil {
			return err
		}
		if err := farm.MarkReady(); err != nil {
			return err
		}
	}
	if err := writeReadyFile(o.readyFile, farm.Info()); err != nil {
		return err
	}
	if o.readyFile != "" {
		defer os.Remove(o.readyFile)
	}
	printUsage(out, farm.Info())
	select {
	case <-cmd.Context().Done():
	case ex := <-kdcGone:
		farm.Close()
		return fmt.Errorf("the KDC (pid %d) died (%s), so no one can get a ticket: farm stopped; state kept in %s", ex.PID, ex.Status, farm.Dir)
	}
	fmt.Fprintf(out, "\nkrbfarm: stopping (KDC pid %d, hosts %v)\n", farm.Realm.PID(), hostPIDs(farm))
	if err := farm.Close(); err != nil {
		return err
	}
	fmt.Fprintln(out, "krbfarm: stopped; state kept in", farm.Dir)
	return nil
}

// reportExit tells the user, on errOut, of a child that died. A host's
// death leaves the farm running, as a crashed server leaves a real farm:
// the load balancer's health check takes it out of rotation. The KDC's
// death is sent to kdcGone, on which up stops the farm.
func reportExit(errOut io.Writer, kdcGone chan<- lab.ChildExit) func(lab.ChildExit) {
	return func(ex lab.ChildExit) {
		fmt.Fprintf(errOut, "\nkrbfarm: %s\n", ex)
		if !ex.KDC() {
			fmt.Fprintf(errOut, "krbfarm: the rest of the farm keeps running; the load balancer's health check takes %s out of rotation. Ctrl-C stops the farm.\n", ex.Host)
			return
		}
		fmt.Fprintln(errOut, "krbfarm: without its KDC the farm is useless: stopping it.")
		select {
		case kdcGone <- ex:
		default:
		}
	}
}

func progressTo(out io.Writer) func(string, time.Duration) {
	return func(step string, took time.Duration) {
		fmt.Fprintf(out, "  ✓ %-42s %6.1f ms\n", step, float64(took.Microseconds())/1000)
	}
}

func hostPIDs(f *lab.Farm) []int {
	var pids []int
	for _, h := range f.Hosts {
		pids = append(pids, h.PID())
	}
	return pids
}

// printUsage shows what a user needs to reach the farm by hand.
func printUsage(out io.Writer, in lab.Info) {
	u := in.Users[0]
	fmt.Fprintf(out, "Farm %s is up:\n", in.FQDN)
	fmt.Fprintf(out, "  URL        %s  (load balancer %s, TLS %s)\n", in.URL, in.LB.Addr, in.LB.Mode)
	if in.Dashboard != "" {
		fmt.Fprintf(out, "  dashboard  %s  (open it in a browser; loopback only)\n", in.Dashboard)
	}
	fmt.Fprintf(out, "  LB admin   http://%s/status  log %s\n", in.LB.Admin, in.LB.Log)
	fmt.Fprintf(out, "  realm      %s  (KDC %s)\n", in.Realm, in.KDC)
	fmt.Fprintf(out, "  SPN        %s  (held by %s)\n", in.SPN, in.Service)
	fmt.Fprintf(out, "  user       %s  password %s\n", u.Principal, u.Password)
	for _, b := range in.Backends {
		fmt.Fprintf(out, "  backend    %-8s %s  pid %d  log %s\n", b.Name, b.Addr, b.PID, b.Log)
	}
	fmt.Fprintf(out, "\nTry it (in another shell):\n")
	fmt.Fprintf(out, "  export KRB5_CONFIG=%s\n", in.Krb5Conf)
	fmt.Fprintf(out, "  echo %s | kinit %s\n", u.Password, u.Principal)
	fmt.Fprintf(out, "  curl --negotiate -u : --cacert %s %s\n", in.CACert, in.URL)
	fmt.Fprintf(out, "\nOr: source %s/env.  Farm description: %s/farm.json\n", in.StateDir, in.StateDir)
	fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
	_ = os.Stdout.Sync()
}
