package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/krbfarm/krbfarm/backend"
	"github.com/krbfarm/krbfarm/lab"
)

// Follow mode polls the event files; each poll reads at most eventsPerPoll
// events per file.
const (
	followInterval = 250 * time.Millisecond
	eventsPerPoll  = 10000
)

func newEventsCmd() *cobra.Command {
	var (
		state, host, output string
		follow              bool
	)
	cmd := &cobra.Command{
		Use:   "events",
		Short: "Show the hosts' Windows-like security events (4624, 4625, 5021)",
		Long: `events shows what each host of a running farm logged, like the Windows
Security and System logs of an IIS farm: 4624 (logon: user, package Kerberos
or NTLM), 4625 (failed logon: NTSTATUS status/sub-status and the Kerberos
error, e.g. 0xC0000133 KRB_AP_ERR_SKEW for clock skew) and 5021 (the app pool
identity lacks the batch logon right). Times are each host's own clock.`,
		Example: `  krbfarm events --state DIR
  krbfarm events --state DIR --host server2 --follow
  krbfarm events --state DIR -o json | jq .`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: use table or json", output)
			}
			if state == "" {
				state = defaultStateDir()
			}
			srcs, err := eventSources(state, host)
			if err != nil {
				return err
			}
			return showEvents(cmd.Context(), cmd.OutOrStdout(), srcs, output == "json", follow)
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "", "state directory of the running farm (default $XDG_STATE_HOME/krbfarm)")
	f.StringVar(&host, "host", "", "show only this host's events, e.g. server2")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until Ctrl-C")
	f.StringVarP(&output, "output", "o", "table", "table or json (one event per line)")
	return cmd
}

// eventSource is one host's event file, followed.
type eventSource struct {
	host string
	tail backend.EventTail
}

// eventSources lists the event files of the farm's hosts (or one host).
func eventSources(state, host string) ([]*eventSource, error) {
	in, err := lab.ReadInfo(state)
	if err != nil {
		return nil, err
	}
	var srcs []*eventSource
	var names []string
	for _, b := range in.Backends {
		names = append(names, b.Name)
		if host != "" && b.Name != host {
			continue
		}
		path := b.Events
		if path == "" {
			path = lab.EventsPath(state, b.Name)
		}
		srcs = append(srcs, &eventSource{host: b.Name, tail: backend.EventTail{Path: path}})
	}
	if len(srcs) == 0 {
		return nil, fmt.Errorf("no host %q in the farm in %s: its hosts are %s", host, state, strings.Join(names, ", "))
	}
	return srcs, nil
}

// readNew returns the events appended since the last call.
func (s *eventSource) readNew() ([]backend.Event, error) {
	return s.tail.ReadNew(eventsPerPoll)
}

// showEvents prints every source's events in time order, then, with
// follow, new ones as they come until ctx ends.
func showEvents(ctx context.Context, out io.Writer, srcs []*eventSource, asJSON, follow bool) error {
	p := eventPrinter{out: out, json: asJSON}
	if err := p.batch(srcs); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	tick := time.NewTicker(followInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if err := p.batch(srcs); err != nil {
				return err
			}
		}
	}
}

// eventPrinter writes events as a table (header once) or JSON lines.
type eventPrinter struct {
	out     io.Writer
	json    bool
	started bool
}

func (p *eventPrinter) batch(srcs []*eventSource) error {
	var all []backend.Event
	for _, s := range srcs {
		ev, err := s.readNew()
		if err != nil {
			return fmt.Errorf("events of %s: %w", s.host, err)
		}
		all = append(all, ev...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	for _, e := range all {
		p.print(e)
	}
	if !p.started && !p.json && len(all) == 0 {
		fmt.Fprintln(p.out, "(no events yet)")
		p.started = true
	}
	return nil
}

const eventRow = "%-19s  %-8s  %-4s  %-26s  %-15s  %-26s  %s\n"

func (p *eventPrinter) print(e backend.Event) {
	if p.json {
		b, _ := json.Marshal(e)
		fmt.Fprintf(p.out, "%s\n", b)
		return
	}
	if !p.started {
		fmt.Fprintf(p.out, eventRow, "TIME (host clock)", "HOST", "ID", "USER", "SOURCE ADDRESS", "PACKAGE / STATUS", "REASON")
		p.started = true
	}
	fmt.Fprintf(p.out, eventRow, e.Time.UTC().Format("2006-01-02 15:04:05"), e.Host, fmt.Sprint(e.ID),
		or(e.User, "-"), or(e.IPAddress, "-"), packageStatus(e), reasonText(e))
}

// packageStatus is "Kerberos", or for a failure "Kerberos 0xC000006D/0x0".
func packageStatus(e backend.Event) string {
	s := or(e.Package, e.Source)
	if e.Status != "" {
		s += " " + e.Status + "/" + or(e.SubStatus, "0x0")
	}
	return s
}

func reasonText(e backend.Event) string {
	switch {
	case e.Reason != "" && e.ID == backend.EventLogonFailure:
		return e.Reason
	case e.Reason != "":
		return e.Reason + ": " + e.Message
	}
	return or(e.Message, "-")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
