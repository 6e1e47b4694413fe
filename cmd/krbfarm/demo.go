package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

func newDemoCmd() *cobra.Command {
	var ff farmFlags
	var requests int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a farm, sign in through the load balancer a few times, stop it",
		Long: `demo starts a throwaway farm, logs in as the user with the built-in Kerberos
client, sends requests through the load balancer on new connections, shows
which backend served each and as whom, and stops the farm. It exits 0 only if
every request was served with Kerberos as the user and every backend served.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := ff.labConfig(cmd)
			if err == nil {
				err = ff.check(cmd, &cfg)
			}
			if err != nil {
				return err
			}
			return ff.explain(cmd, runDemo(cmd.Context(), cmd.OutOrStdout(), cfg, requests))
		},
	}
	ff.register(cmd, "127.0.0.1:0")
	cmd.Flags().IntVar(&requests, "requests", 6, "authenticated requests to send (1-1000)")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, cfg lab.Config, n int) error {
	if n < 1 || n > 1000 {
		return fmt.Errorf("--requests %d: use 1 to 1000", n)
	}
	begin := time.Now()
	farm, err := lab.Start(ctx, cfg, lab.WithLogger(newLogger(false, zap.WarnLevel)), lab.WithProgress(progressTo(out)))
	if err != nil {
		return err
	}
	defer farm.Close()
	fmt.Fprintf(out, "  farm ready in %s: %s (realm %s, TLS %s)\n\n", time.Since(begin).Round(time.Millisecond), farm.URL, farm.Config.Realm, farm.Config.LB.Mode)
	c, err := farm.NewClient("")
	if err != nil {
		return err
	}
	defer c.Close()
	served, failed := demoRequests(ctx, out, farm, c, n)
	return demoVerdict(out, farm, served, failed)
}

// demoRequests sends n authenticated requests, one TCP connection each, and
// counts the good ones per backend.
func demoRequests(ctx context.Context, out io.Writer, farm *lab.Farm, c *krbhttp.Client, n int) (map[string]int, int) {
	want := farm.Config.Users[0].Name + "@" + farm.Config.Realm
	served, failed := map[string]int{}, 0
	fmt.Fprintf(out, "  %-4s %-8s %-6s %-28s %s\n", "#", "backend", "status", "user", "mechanism")
	for i := 1; i <= n; i++ {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := c.Get(rctx, farm.URL)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "  %-4d error: %v\n", i, err)
			failed++
			continue
		}
		fmt.Fprintf(out, "  %-4d %-8s %-6d %-28s %s\n", i, r.Backend, r.Status, r.User, r.Mechanism)
		if r.Status == 200 && r.User == want && r.Mechanism == "Kerberos" {
			served[r.Backend]++
		} else {
			failed++
		}
	}
	return served, failed
}

func demoVerdict(out io.Writer, farm *lab.Farm, served map[string]int, failed int) error {
	var names []string
	for name := range served {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintln(out)
	for _, name := range names {
		fmt.Fprintf(out, "  %s served %d request(s) with Kerberos\n", name, served[name])
	}
	if failed > 0 {
		return fmt.Errorf("demo failed: %d request(s) not served with Kerberos; see the hosts' logs in %s/logs", failed, farm.Dir)
	}
	if len(served) < len(farm.Hosts) && sum(served) >= len(farm.Hosts) {
		return fmt.Errorf("demo failed: only %d of %d backends served", len(served), len(farm.Hosts))
	}
	fmt.Fprintf(out, "  OK: single sign-on works through the load balancer onto %d backends sharing %s\n", len(served), farm.Config.SPN())
	return nil
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
