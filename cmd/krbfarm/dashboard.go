package main

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/dashboard"
)

// dashFlags say where the dashboard listens.
type dashFlags struct {
	addr   string
	public bool
}

func (df *dashFlags) register(cmd *cobra.Command, flag, usage string) {
	cmd.Flags().StringVar(&df.addr, flag, "127.0.0.1:0", usage)
	cmd.Flags().BoolVar(&df.public, "dashboard-public", false, "allow a non-loopback dashboard address: anyone who reaches it can break and fix the farm")
}

// serveDashboard serves the dashboard of a's farm until ctx ends, and
// returns its URL once it listens.
func serveDashboard(ctx context.Context, a *lab.Admin, df dashFlags, log *zap.Logger) (string, error) {
	ln, err := dashboard.Listen(df.addr, df.public)
	if err != nil {
		return "", err
	}
	d, err := dashboard.New(dashboard.Config{}, a, log.Named("dashboard"))
	if err != nil {
		ln.Close()
		return "", err
	}
	go func() {
		if err := d.Serve(ctx, ln); err != nil {
			log.Error("dashboard stopped", zap.Error(err))
		}
	}()
	return dashboard.URL(ln), nil
}

func newDashboardCmd() *cobra.Command {
	var (
		sf stateFlags
		df dashFlags
	)
	cmd := &cobra.Command{
		Use:   "dashboard --state DIR",
		Short: "Serve a live web page of a running farm (topology, health, events, directory, scenarios)",
		Long: `dashboard serves, on loopback, a page that shows a running farm live: the
topology with each host's health as the load balancer sees it, logons per host
and mechanism with the last Kerberos error, the security events as they
happen, the directory's accounts and SPNs, and buttons that step through the
scenarios. krbfarm up serves one already; this one is for a farm started
elsewhere (it reads DIR/farm.json). Runs until Ctrl-C.`,
		Example: `  krbfarm dashboard --state ~/.local/state/krbfarm
  krbfarm dashboard --state DIR --addr 127.0.0.1:8088`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			url, err := serveDashboard(ctx, a, df, newLogger(false, zap.WarnLevel))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Dashboard of %s: %s  (loopback only; Ctrl-C stops it)\n", a.FQDN, url)
			<-ctx.Done()
			return nil
		},
	}
	sf.register(cmd)
	df.register(cmd, "addr", "address the dashboard listens on (127.0.0.1:0 = a free port)")
	return cmd
}
