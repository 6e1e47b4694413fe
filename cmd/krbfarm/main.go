// Command krbfarm reproduces a Kerberos (SPNEGO) web farm behind an L4 load
// balancer on one Linux machine: a real MIT KDC, IIS-like backend hosts that
// share one service account's keytab, and a TLS-terminating balancer.
//
//	krbfarm demo               # start a farm, sign in through it, stop it
//	krbfarm up --state DIR     # run a farm until Ctrl-C
//	krbfarm backend --config F # one IIS-like host on its own
//	krbfarm lb --listen A --backend B ... # the load balancer on its own
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/krbfarm/krbfarm/internal/logsink"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "krbfarm:", err)
		os.Exit(exitCode(err))
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "krbfarm",
		Short:         "Reproduce, test and teach Kerberos single sign-on behind a load balancer",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newUpCmd(), newDemoCmd(), newBackendCmd(), newLBCmd())
	root.AddCommand(newSetspnCmd(), newAccountCmd(), newKtpassCmd(), newKeytabCmd(), newIISCmd(), newDoctorCmd(), newScenarioCmd(), newKinitCmd())
	root.AddCommand(newEventsCmd(), newWaitCmd(), newDashboardCmd(), newGPOCmd(), newGPUpdateCmd())
	return root
}

// exitError carries an exit status other than 1.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func exitCode(err error) int {
	if e, ok := err.(*exitError); ok {
		return e.code
	}
	return 1
}

// newLogger is a JSON logger on stderr for the long-running components, or
// a quieter console one for interactive commands; see loggerConfig.
func newLogger(json bool, level zapcore.Level) *zap.Logger {
	log, err := loggerConfig(json, level).Build()
	if err != nil {
		return zap.NewNop()
	}
	return log
}

// loggerConfig is newLogger's config. Sampling is off in both: zap's
// production preset keeps only the first 100 identical lines a second and
// every 100th after, but the hosts promise one line per refused token and
// the balancer one per connection event (measured: 1,000 bad tokens gave
// 109 lines). The cost of every line is in the README's benchmarks.
func loggerConfig(json bool, level zapcore.Level) zap.Config {
	var cfg zap.Config
	if json {
		cfg = zap.NewProductionConfig()
	} else {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
		cfg.DisableCaller = true
	}
	cfg.Sampling = nil
	cfg.Level = zap.NewAtomicLevelAt(level)
	cfg.OutputPaths = []string{logsink.URL} // stderr, see logsink
	return cfg
}
