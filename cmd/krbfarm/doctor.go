package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab/directory"
	"github.com/krbfarm/krbfarm/lab/doctor"
)

func newDoctorCmd() *cobra.Command {
	var (
		sf       stateFlags
		ext      externalFlags
		output   string
		name     string
		requests int
	)
	cmd := &cobra.Command{
		Use:   "doctor (--state DIR | --url URL --realm R --kdc HOST:PORT --user U [--backend ADDR ...])",
		Short: "Diagnose a farm: one line per check, then a verdict naming the cause and the fix",
		Long: `doctor runs what an administrator runs by hand (setspn -Q / -X, klist get,
klist -kte, a request to each host directly and N through the load balancer,
clock checks) and names the failure catalogue's entry with its fix.

With --state it diagnoses a lab farm from the inside. With --url it diagnoses
a real deployment from a Linux box, seeing only what a client sees: the
password comes from $KRBFARM_PASSWORD (or --password-env NAME), else from the
user's MIT ccache (kinit first); it is never a flag and never printed.
Exit status: 0 healthy (warnings allowed), 1 problems found, 2 could not run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			if (sf.state == "") == (ext.url == "") {
				return &exitError{code: 2, err: fmt.Errorf("give either --state DIR (a lab farm) or --url URL (a real deployment)")}
			}
			if ext.url != "" {
				return runExternalDoctor(ctx, cmd, &ext, requests, output)
			}
			a, err := sf.admin()
			if err != nil {
				return err
			}
			if a.Info.Scenario != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "doctor: this farm was left broken as scenario %s: diagnosing it as that scenario's users meet it\n", a.Info.Scenario)
			}
			r, err := a.Diagnose(ctx, doctor.Options{Name: name, Requests: requests, User: ext.user})
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return writeReport(cmd, r, output)
		},
	}
	f := cmd.Flags()
	f.StringVar(&sf.state, "state", "", "state directory of the running lab farm")
	f.StringVar(&sf.krbPath, "krb-path", "", "where to find kadmin.local")
	ext.register(f)
	f.StringVarP(&output, "output", "o", "text", "text or json")
	f.StringVar(&name, "name", "", "the host name clients browse to (default: the farm's FQDN)")
	f.IntVarP(&requests, "requests", "n", 0, "requests through the load balancer (default 2 per host)")
	return cmd
}

func newIISCmd() *cobra.Command {
	var (
		sf              stateFlags
		identity        string
		kernel, appPool bool
		clockOffset     time.Duration
		field, request  int
		tokenChecking   string
		epaFlags, spns  []string
		singleRequest   bool
	)
	cmd := &cobra.Command{
		Use:   "iis HOST [--identity A] [--useKernelMode=B] [--useAppPoolCredentials=B] [--maxFieldLength N] [--maxRequestBytes N] [--tokenChecking None|Allow|Require [--epaFlags Proxy --epaSpn HTTP/fqdn]] [--authPersistSingleRequest=B] [--clock-offset D]",
		Short: "Change a running host's IIS authentication settings (which key decrypts tickets) or its clock",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			limits := directory.IISSettings{MaxFieldLength: field, MaxRequestBytes: request}
			if err := limits.Validate(""); err != nil { // the YAML names are the flags' names
				return &exitError{code: 2, err: errors.New("--" + strings.ReplaceAll(err.Error(), "\n", "\n--"))}
			}
			a, err := sf.admin()
			if err != nil {
				return err
			}
			set := cmd.Flags().Changed
			err = a.SetIIS(cmd.Context(), args[0], func(s *directory.IISSettings) {
				if set("identity") {
					s.Identity = identity
				}
				if set("useKernelMode") {
					s.UseKernelMode = directory.Bool(kernel)
				}
				if set("useAppPoolCredentials") {
					s.UseAppPoolCredentials = directory.Bool(appPool)
				}
				if set("maxFieldLength") {
					s.MaxFieldLength = field
				}
				if set("maxRequestBytes") {
					s.MaxRequestBytes = request
				}
				setEPA(&s.ExtendedProtection, set, tokenChecking, epaFlags, spns)
				if set("authPersistSingleRequest") {
					s.AuthPersistSingleRequest = singleRequest
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
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %s; MaxFieldLength %d, MaxRequestBytes %d; %s; clock offset %s\n",
				h.Name, h.IIS.Explain(d.Service, h.Machine), mf, mr, epaLine(h.IIS.ExtendedProtection), h.ClockOffset)
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
	f.BoolVar(&singleRequest, "authPersistSingleRequest", false, "every request must authenticate: no logon stays on the connection (the hosts' cure for an L7 LB that pools connections)")
	f.StringVar(&tokenChecking, "tokenChecking", "", "extendedProtection tokenChecking: None, Allow or Require (channel binding)")
	f.StringSliceVar(&epaFlags, "epaFlags", nil, "extendedProtection flags: Proxy, ProxyCohosting, NoServiceNameCheck, AllowDotlessSpn, None (repeat or comma-separate; None clears)")
	f.StringSliceVar(&spns, "epaSpn", nil, "extendedProtection spns, with Proxy: HTTP/<fqdn> the site answers to (repeat or comma-separate)")
	return cmd
}

// setEPA applies the extendedProtection flags given: tokenChecking None
// clears flags and spns (IIS ignores them then, the host refuses them),
// --epaFlags None clears the flags.
func setEPA(e *backend.ExtendedProtection, set func(string) bool, tokenChecking string, flags, spns []string) {
	if set("tokenChecking") {
		e.TokenChecking = backend.TokenChecking(tokenChecking)
		if strings.EqualFold(tokenChecking, string(backend.TokenCheckingNone)) && !set("epaFlags") && !set("epaSpn") {
			e.Flags, e.SPNs = nil, nil
		}
	}
	if set("epaFlags") {
		e.Flags = flags
		if len(flags) == 1 && strings.EqualFold(flags[0], backend.EPAFlagNone) {
			e.Flags = nil
		}
	}
	if set("epaSpn") {
		e.SPNs = spns
	}
}

// epaLine is extendedProtection in one line, as appcmd list config shows it.
func epaLine(e backend.ExtendedProtection) string {
	line := "extendedProtection tokenChecking=" + cmp.Or(string(e.TokenChecking), string(backend.TokenCheckingNone))
	if len(e.Flags) > 0 {
		line += " flags=" + strings.Join(e.Flags, ",")
	}
	if len(e.SPNs) > 0 {
		line += " spns=" + strings.Join(e.SPNs, ",")
	}
	return line
}
