package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/lab"
)

func newDoctorCmd() *cobra.Command {
	var (
		sf       stateFlags
		output   string
		name     string
		requests int
	)
	cmd := &cobra.Command{
		Use:   "doctor --state DIR",
		Short: "Diagnose a running farm: one line per check, then a verdict naming the cause and the fix",
		Long: `doctor runs what an administrator runs by hand (setspn -Q / -X, klist get,
klist -kte, a request to each host directly and N through the load balancer,
clock checks) and names the failure catalogue's entry with its fix.
Exit status: 0 healthy (warnings allowed), 1 problems found, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			r, err := a.Diagnose(ctx, lab.DoctorOptions{Name: name, Requests: requests})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			out := cmd.OutOrStdout()
			if output == "json" {
				b, _ := json.MarshalIndent(r, "", "  ")
				fmt.Fprintln(out, string(b))
			} else {
				lab.PrintReport(out, r, "")
			}
			if !r.Healthy() {
				return &exitError{code: 1, err: fmt.Errorf("problem found: %s", r.Cause)}
			}
			return nil
		},
	}
	sf.register(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	cmd.Flags().StringVar(&name, "name", "", "the host name clients browse to (default: the farm's FQDN)")
	cmd.Flags().IntVar(&requests, "requests", 0, "requests through the load balancer (default 2 per host)")
	return cmd
}

func newIISCmd() *cobra.Command {
	var (
		sf              stateFlags
		identity        string
		kernel, appPool bool
		clockOffset     time.Duration
		field, request  int
	)
	cmd := &cobra.Command{
		Use:   "iis HOST [--identity A] [--useKernelMode=B] [--useAppPoolCredentials=B] [--maxFieldLength N] [--maxRequestBytes N] [--clock-offset D]",
		Short: "Change a running host's IIS authentication settings (which key decrypts tickets) or its clock",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := sf.admin()
			if err != nil {
				return err
			}
			set := cmd.Flags().Changed
			err = a.SetIIS(cmd.Context(), args[0], func(s *lab.IISSettings) {
				if set("identity") {
					s.Identity = identity
				}
				if set("useKernelMode") {
					s.UseKernelMode = lab.Bool(kernel)
				}
				if set("useAppPoolCredentials") {
					s.UseAppPoolCredentials = lab.Bool(appPool)
				}
				if set("maxFieldLength") {
					s.MaxFieldLength = field
				}
				if set("maxRequestBytes") {
					s.MaxRequestBytes = request
				}
			})
			if err == nil && set("clock-offset") {
				err = a.SetClockOffset(cmd.Context(), args[0], clockOffset)
			}
			if err != nil {
				return err
			}
			d, err := a.Directory()
			if err != nil {
				return err
			}
			h := d.Host(args[0])
			mf, mr := h.IIS.HeaderLimits()
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s; MaxFieldLength %d, MaxRequestBytes %d; clock offset %s\n",
				h.Name, h.IIS.Explain(d.Service, h.Machine), mf, mr, h.ClockOffset)
			return nil
		},
	}
	sf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&identity, "identity", "", "app pool identity: an account, ApplicationPoolIdentity or NetworkService")
	f.BoolVar(&kernel, "useKernelMode", true, "http.sys decrypts tickets")
	f.BoolVar(&appPool, "useAppPoolCredentials", true, "in kernel mode, decrypt with the pool identity's key")
	f.IntVar(&field, "maxFieldLength", 0, "http.sys MaxFieldLength: the largest header field, bytes (0 = 16384, max 65534)")
	f.IntVar(&request, "maxRequestBytes", 0, "http.sys MaxRequestBytes: request line and headers, bytes (0 = 16384)")
	f.DurationVar(&clockOffset, "clock-offset", 0, "the host's clock error, e.g. 10m")
	return cmd
}
