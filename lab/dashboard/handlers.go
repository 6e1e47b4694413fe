package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/krbfarm/krbfarm/lab/scenario"
)

// pageData is what the page's template shows before the first update.
type pageData struct {
	Token string
	State State
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.page.Execute(w, pageData{Token: s.token, State: s.State(r.Context())}); err != nil {
		s.log.Debug("dashboard page: " + err.Error())
	}
}

func (s *Server) handleState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.State(r.Context()))
}

// scenarioInfo is one scenario as the page lists it.
type scenarioInfo struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	Story string `json:"story"`
	Cause string `json:"cause"`
}

func (s *Server) handleScenarios(w http.ResponseWriter, _ *http.Request) {
	var out []scenarioInfo
	for _, sc := range scenario.All() {
		out = append(out, scenarioInfo{Name: sc.Name, Title: sc.Title, Story: sc.Story, Cause: sc.Cause})
	}
	writeJSON(w, http.StatusOK, out)
}

// handleStream is the server-sent event stream: security events as the
// hosts log them, the state every statePeriod, action output as it is
// written, and a heartbeat comment. It has no write timeout but ends
// after streamLifetime; EventSource reconnects.
func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	ctx, cancel := context.WithTimeout(r.Context(), streamLifetime)
	defer cancel()
	state := time.NewTicker(statePeriod)
	defer state.Stop()
	beat := time.NewTicker(heartbeatPeriod)
	defer beat.Stop()
	fmt.Fprint(w, "retry: 2000\n\n")
	for {
		rc.Flush()
		select {
		case <-ctx.Done():
			return
		case m := <-ch:
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.name, m.data)
		case <-state.C:
			b, _ := json.Marshal(s.State(ctx))
			fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
		case <-beat.C:
			fmt.Fprint(w, ": heartbeat\n\n")
		}
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// errorJSON is an action's failure.
type errorJSON struct {
	Error string `json:"error"`
}
