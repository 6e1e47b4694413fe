package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/krbhttp"
)

// waitPoll is how often `krbfarm wait` looks again.
const waitPoll = 50 * time.Millisecond

func newWaitCmd() *cobra.Command {
	var (
		state   string
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait --state DIR [--timeout D]",
		Short: "Wait until the farm in DIR is ready: farm.json says so and the load balancer answers",
		Long: `wait returns 0 once DIR/farm.json says "ready" (with --scenario: once the
farm has been broken as the scenario says) and the load balancer answers
over TLS; 1 if the timeout passes first. For scripts:

  krbfarm up --state "$FARM" &
  krbfarm wait --state "$FARM"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			in, err := waitReady(ctx, state)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "farm ready: %s\n", in.URL)
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "state directory of the farm")
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	cmd.MarkFlagRequired("state")
	return cmd
}

// waitReady polls state's farm.json until it says ready and the farm's
// load balancer answers, or ctx ends; the error then says what was
// missing last.
func waitReady(ctx context.Context, state string) (lab.Info, error) {
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		in, err := farmReady(ctx, state)
		if err == nil {
			return in, nil
		}
		select {
		case <-ctx.Done():
			return in, fmt.Errorf("farm in %s not ready: %w", state, err)
		case <-tick.C:
		}
	}
}

var errNotReady = errors.New(`farm.json does not say "ready" yet`)

// farmReady checks once: farm.json ready, its process alive, the LB
// answering over TLS with any HTTP status.
func farmReady(ctx context.Context, state string) (lab.Info, error) {
	in, err := lab.ReadInfo(state)
	if err != nil {
		return in, err
	}
	if !in.Ready {
		return in, errNotReady
	}
	if in.PID > 0 && errors.Is(syscall.Kill(in.PID, 0), syscall.ESRCH) {
		return in, fmt.Errorf("farm.json names pid %d, which is gone", in.PID)
	}
	hc, err := krbhttp.NewHTTPClient(krbhttp.Config{CAFile: in.CACert, DialAddr: in.LB.Addr, Timeout: 2 * time.Second})
	if err != nil {
		return in, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL, nil)
	if err != nil {
		return in, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return in, fmt.Errorf("load balancer %s: %w", in.LB.Addr, err)
	}
	resp.Body.Close()
	return in, nil
}

// writeReadyFile writes the farm's URL to path, atomically, once the farm
// is ready: a script waits for the file to exist.
func writeReadyFile(path string, in lab.Info) error {
	if path == "" {
		return nil
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(in.URL+"\n"), 0o600); err != nil {
		return fmt.Errorf("--ready-file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--ready-file: %w", err)
	}
	return nil
}
