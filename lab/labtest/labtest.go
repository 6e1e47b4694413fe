// Package labtest gives any Go test a running farm in one call: a real MIT
// KDC, backend hosts as separate processes, and the load balancer.
//
// Typical use:
//
//	func TestLogin(t *testing.T) {
//		farm := labtest.Start(t, lab.Config{})
//		c := labtest.Client(t, farm, "alice")
//		res, err := c.Get(context.Background(), farm.URL)
//		...
//	}
//
// Hosts run as re-executions of the test binary itself: importing labtest
// installs an init hook that, in such a child, serves the backend and exits
// before any test runs. Tests are skipped, with the install line, when the
// MIT krb5 programs are missing.
package labtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/kdc"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

func init() {
	if os.Getenv(lab.ChildEnv) != "backend" || len(os.Args) < 2 || os.Args[1] != "backend" {
		return
	}
	os.Exit(runChild(os.Args[2:]))
}

// runChild is a backend host inside a re-executed test binary.
func runChild(args []string) int {
	fs := flag.NewFlagSet("backend", flag.ContinueOnError)
	cfg := fs.String("config", "", "backend config file")
	fd := fs.Int("listen-fd", 0, "inherited listener fd")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, _ := zap.NewProduction()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	bc, err := backend.LoadConfig(*cfg)
	if err == nil {
		err = lab.RunBackend(ctx, bc, *fd, log)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		return 1
	}
	return 0
}

// Start runs a farm for t and stops it in t.Cleanup. It skips t when the
// MIT krb5 programs are not installed, and fails it on any other error.
func Start(t testing.TB, cfg lab.Config) *lab.Farm {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	farm, err := lab.Start(ctx, cfg, lab.WithLogger(zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))))
	var missing *kdc.MissingToolsError
	if errors.As(err, &missing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatalf("start farm: %v", err)
	}
	t.Cleanup(func() {
		if err := farm.Close(); err != nil {
			t.Errorf("close farm: %v", err)
		}
	})
	return farm
}

// Client logs user in to farm ("" = the first user) and closes the client
// in t.Cleanup.
func Client(t testing.TB, farm *lab.Farm, user string) *krbhttp.Client {
	t.Helper()
	c, err := farm.NewClient(user)
	if err != nil {
		t.Fatalf("log in as %q: %v", user, err)
	}
	t.Cleanup(c.Close)
	return c
}
