package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/krbfarm/krbfarm/lab/scenario"
)

// maxActionBody bounds a POST's JSON body.
const maxActionBody = 4 << 10

// sampleRequest is POST /api/sample: send N requests as User.
type sampleRequest struct {
	User    string `json:"user"`    // "" = the farm's first user
	N       int    `json:"n"`       // 1..100
	Browser bool   `json:"browser"` // fall back to NTLM as a browser does
}

// sampleResponse is the sample's one-line summary, as `krbfarm scenario`
// prints it, and whether every request succeeded.
type sampleResponse struct {
	Summary string `json:"summary"`
	OK      bool   `json:"ok"`
	Krbfarm string `json:"krbfarm"` // the equivalent by hand
}

func (s *Server) handleSample(w http.ResponseWriter, r *http.Request) {
	var req sampleRequest
	if !decode(w, r, &req) {
		return
	}
	if req.N < 1 || req.N > 100 {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "n must be 1 to 100"})
		return
	}
	ctx, done, ok := s.begin(w, r)
	if !ok {
		return
	}
	defer done()
	smp, err := s.admin.SampleAs(ctx, req.User, s.admin.SiteName(), req.N, req.Browser)
	if err != nil {
		writeJSON(w, http.StatusBadGateway, errorJSON{Error: err.Error()})
		return
	}
	hand := fmt.Sprintf("krbfarm kinit --state %s %s && curl --negotiate -u : --cacert %s %s", s.admin.Dir, req.User, s.admin.Info.CACert, s.admin.Info.URL)
	writeJSON(w, http.StatusOK, sampleResponse{Summary: smp.String(), OK: smp.OK(), Krbfarm: hand})
}

// scenarioRequest is POST /api/scenario: one phase of scenario Name, or
// "run" for the whole of it.
type scenarioRequest struct {
	Name  string `json:"name"`
	Phase string `json:"phase"` // run, break, symptom, diagnose, fix, verify
}

// PhaseResult is what one phase (or a whole run) did.
type PhaseResult struct {
	Name    string   `json:"name"`
	Phase   string   `json:"phase"`
	Output  string   `json:"output"`
	OK      bool     `json:"ok"` // break: done; symptom: seen; diagnose: cause named; fix: done; verify: cured; run: all three
	Cause   string   `json:"cause,omitempty"`
	Windows []string `json:"windows,omitempty"` // the Windows commands of this phase
	Krbfarm []string `json:"krbfarm,omitempty"` // the krbfarm commands that do the same by hand
	// Symptom, Diagnosed and Cured are scenario.Result's, for "run".
	Symptom   bool `json:"symptom,omitempty"`
	Diagnosed bool `json:"diagnosed,omitempty"`
	Cured     bool `json:"cured,omitempty"`
}

func (s *Server) handleScenario(w http.ResponseWriter, r *http.Request) {
	var req scenarioRequest
	if !decode(w, r, &req) {
		return
	}
	sc, err := scenario.Find(req.Name)
	if err != nil {
		writeJSON(w, http.StatusNotFound, errorJSON{Error: err.Error()})
		return
	}
	ctx, done, ok := s.begin(w, r)
	if !ok {
		return
	}
	defer done()
	out := &streamWriter{hub: s.hub, scenario: sc.Name, phase: req.Phase}
	res, err := s.phase(ctx, sc, req.Phase, out)
	res.Name, res.Phase, res.Output = sc.Name, req.Phase, out.String()
	if err != nil {
		res.Output += "\nerror: " + err.Error()
		writeJSON(w, http.StatusBadGateway, res)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// phase runs one phase of sc, writing what it prints to out.
func (s *Server) phase(ctx context.Context, sc *scenario.Scenario, phase string, out io.Writer) (PhaseResult, error) {
	a, n := s.admin, s.cfg.Requests
	setup, fix := sc.Commands(a)
	var res PhaseResult
	var err error
	switch phase {
	case "run":
		var r scenario.Result
		r, err = sc.Run(ctx, a, out, n)
		res = PhaseResult{OK: r.OK(), Symptom: r.Symptom, Diagnosed: r.Diagnosed, Cured: r.Cured, Windows: append(setup, fix...),
			Krbfarm: []string{"krbfarm scenario run " + sc.Name}}
		if r.Report != nil {
			res.Cause = r.Report.Cause
		}
	case "break":
		err = sc.Break(ctx, a, out)
		res = PhaseResult{OK: err == nil, Windows: setup, Krbfarm: s.byHand(setup, "krbfarm up --scenario "+sc.Name+" --hint")}
	case "symptom":
		res.OK, err = sc.ShowSymptom(ctx, a, out, n)
		res.Krbfarm = []string{fmt.Sprintf("curl --negotiate -u : --cacert %s https://%s:PORT/", a.Info.CACert, sc.Target(a)), "krbfarm events --state " + a.Dir}
	case "diagnose":
		rep, named, derr := sc.Diagnose(ctx, a, out)
		res, err = PhaseResult{OK: named}, derr
		if rep != nil {
			res.Cause = rep.Cause
		}
		res.Krbfarm = []string{"krbfarm doctor --state " + a.Dir}
	case "fix":
		err = sc.Mend(ctx, a, out)
		res = PhaseResult{OK: err == nil, Windows: fix, Krbfarm: s.byHand(fix, "")}
	case "verify":
		res.OK, err = sc.Verify(ctx, a, out, n)
		res.Krbfarm = []string{"krbfarm doctor --state " + a.Dir}
	default:
		return res, fmt.Errorf("phase %q: use run, break, symptom, diagnose, fix or verify", phase)
	}
	return res, err
}

// byHand maps Windows commands to the krbfarm commands that do the same
// in this farm, where one exists; otherwise fallback, if any.
func (s *Server) byHand(windows []string, fallback string) []string {
	var out []string
	for _, w := range windows {
		f := strings.Fields(w)
		switch {
		case len(f) >= 4 && f[0] == "setspn":
			out = append(out, fmt.Sprintf("krbfarm setspn --state %s %s %s '%s'", s.admin.Dir, f[1], f[2], f[3]))
		case len(f) >= 2 && f[0] == "Set-ADAccountPassword":
			out = append(out, fmt.Sprintf("krbfarm account reset-password --state %s '%s'", s.admin.Dir, f[1]))
		case len(f) >= 2 && f[0] == "ktpass" && strings.Contains(w, "copy to "):
			host := w[strings.LastIndex(w, "copy to ")+len("copy to "):]
			out = append(out, fmt.Sprintf("krbfarm keytab push --state %s %s", s.admin.Dir, strings.TrimSpace(host)))
		}
	}
	if len(out) == 0 && fallback != "" {
		out = append(out, fallback)
	}
	return out
}

// begin takes the action lock (409 if another action runs) and gives the
// action actionTimeout to write its answer.
// The caller calls done when the action ends.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) (ctx context.Context, done func(), ok bool) {
	if !s.busy.TryLock() {
		writeJSON(w, http.StatusConflict, errorJSON{Error: "another action is running: wait for it"})
		return nil, nil, false
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(actionTimeout + 5*time.Second))
	ctx, cancel := context.WithTimeout(r.Context(), actionTimeout)
	return ctx, func() { cancel(); s.busy.Unlock() }, true
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxActionBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "request body: " + err.Error()})
		return false
	}
	return true
}

// streamWriter keeps what an action prints and sends each line to the
// event stream as it is written.
type streamWriter struct {
	hub             *hub
	scenario, phase string
	mu              sync.Mutex
	buf             bytes.Buffer
	part            []byte
}

// logLine is one line of an action's output on the stream.
type logLine struct {
	Scenario string `json:"scenario"`
	Phase    string `json:"phase"`
	Line     string `json:"line"`
}

func (sw *streamWriter) Write(p []byte) (int, error) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.buf.Write(p)
	sw.part = append(sw.part, p...)
	for {
		i := bytes.IndexByte(sw.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		sw.hub.publish("log", logLine{Scenario: sw.scenario, Phase: sw.phase, Line: string(sw.part[:i])})
		sw.part = sw.part[i+1:]
	}
}

func (sw *streamWriter) String() string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.buf.String()
}
