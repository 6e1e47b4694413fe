package krbhttp

import (
	"fmt"
	"strings"
)

// Outcome is how one backend answered a series of requests.
type Outcome struct {
	Backend string `json:"backend"`
	Status  int    `json:"status"`
	Count   int    `json:"count"`
	// Mechanism is how the 200s were authenticated: Kerberos or NTLM.
	Mechanism string `json:"mechanism,omitempty"`
	Reason    string `json:"reason,omitempty"` // from the host's log, for refusals
}

// Sample is what N requests returned, summarised per backend, as a user
// (or `Invoke-WebRequest` in a loop) sees it.
type Sample struct {
	Name        string    `json:"name"` // the host name in the URL
	Requests    int       `json:"requests"`
	Outcomes    []Outcome `json:"outcomes"`
	TicketError string    `json:"ticket_error,omitempty"` // no ticket at all: the KDC's error name
	Errors      int       `json:"errors"`                 // requests that got no answer
}

// OK reports whether every request was served (200) with Kerberos: a site
// served over NTLM works, but is not what the farm is for.
func (s Sample) OK() bool {
	if s.TicketError != "" || s.Errors > 0 {
		return false
	}
	for _, o := range s.Outcomes {
		if o.Status != 200 || o.Mechanism == "NTLM" {
			return false
		}
	}
	return len(s.Outcomes) > 0
}

// String is the one-line summary, e.g.
// "server1 200 x3 · server2 401 x3 KRB_AP_ERR_MODIFIED".
func (s Sample) String() string {
	if s.TicketError != "" {
		return fmt.Sprintf("no Kerberos ticket: %s; a browser would fall back to NTLM (or prompt)", s.TicketError)
	}
	var parts []string
	for _, o := range s.Outcomes {
		p := fmt.Sprintf("%s %d x%d", o.Backend, o.Status, o.Count)
		if o.Mechanism == "NTLM" {
			p += " NTLM"
		}
		if o.Reason != "" {
			p += " " + o.Reason
		}
		parts = append(parts, p)
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("no answer x%d", s.Errors))
	}
	return strings.Join(parts, " · ")
}

// OverNTLM reports whether every request was served, some over NTLM.
func (s Sample) OverNTLM() bool {
	ntlm := false
	for _, o := range s.Outcomes {
		if o.Status != 200 {
			return false
		}
		ntlm = ntlm || o.Mechanism == "NTLM"
	}
	return ntlm && s.Errors == 0 && s.TicketError == ""
}

// AllStatus reports whether every request was answered with status.
func (s Sample) AllStatus(status int) bool {
	for _, o := range s.Outcomes {
		if o.Status != status {
			return false
		}
	}
	return len(s.Outcomes) > 0 && s.Errors == 0 && s.TicketError == ""
}
