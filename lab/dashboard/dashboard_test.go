package dashboard_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/dashboard"
	"github.com/krbfarm/krbfarm/lab/labtest"
	"github.com/krbfarm/krbfarm/lab/scenario"
)

// dash is a dashboard served on loopback for a test farm.
type dash struct {
	farm  *lab.Farm
	url   string
	token string
}

func startDashboard(t *testing.T, farm *lab.Farm) *dash {
	t.Helper()
	d, err := dashboard.New(dashboard.Config{}, farm.Admin(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := dashboard.Listen("", false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return &dash{farm: farm, url: dashboard.URL(ln), token: d.Token()}
}

func (d *dash) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(d.url + strings.TrimPrefix(path, "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (d *dash) post(t *testing.T, path, token, body string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, d.url+strings.TrimPrefix(path, "/"), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set(dashboard.TokenHeader, token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

func (d *dash) state(t *testing.T) dashboard.State {
	t.Helper()
	code, body := d.get(t, "/api/state")
	var st dashboard.State
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st) != nil {
		t.Fatalf("/api/state: %d %q", code, body)
	}
	return st
}

// One farm for all: starting one costs seconds. The host-down case runs
// last, as it leaves the farm broken.
func TestDashboardAgainstRealFarm(t *testing.T) {
	stateDir := t.TempDir()
	os.Chmod(stateDir, 0o700)
	old := lab.EventsPath(stateDir, "server1")
	os.MkdirAll(filepath.Dir(old), 0o700)
	os.WriteFile(old, []byte(`{"time":"2020-01-01T00:00:00Z","host":"server1","id":4624,"source":"Security","user":"from-an-earlier-run","package":"Kerberos","logon_type":3}`+"\n"), 0o600)

	farm := labtest.Start(t, lab.Config{StateDir: stateDir})
	d := startDashboard(t, farm)
	in := farm.Info()
	if in.LB.Admin == "" || in.LB.Log != filepath.Join(farm.Dir, "logs", "lb.log") {
		t.Fatalf("farm.json lb = %+v, want an admin address and logs/lb.log", in.LB)
	}

	t.Run("events of an earlier run are rotated", func(t *testing.T) {
		b, err := os.ReadFile(old + ".1")
		if err != nil || !strings.Contains(string(b), "from-an-earlier-run") {
			t.Fatalf("%s.1 = %q, %v; want the earlier run's event", old, b, err)
		}
		cur, _ := os.ReadFile(old)
		if strings.Contains(string(cur), "from-an-earlier-run") {
			t.Fatalf("%s still holds the earlier run's event", old)
		}
	})
	t.Run("page names the hosts and draws the topology", func(t *testing.T) { testPage(t, d) })
	t.Run("POST without the token is refused", func(t *testing.T) { testToken(t, d) })
	t.Run("stream delivers a 4624 after a request through the LB", func(t *testing.T) { testStream(t, d) })
	t.Run("scenario stepped through the API", func(t *testing.T) { testSteps(t, d, "missing-spn") })
	t.Run("scenario run via the API matches scenario.Run", func(t *testing.T) { testRun(t, d, "stale-keytab") })
	t.Run("state shows a killed host down", func(t *testing.T) { testHostDown(t, d) })
}

func testPage(t *testing.T, d *dash) {
	code, body := d.get(t, "/")
	if code != http.StatusOK {
		t.Fatalf("GET / = %d", code)
	}
	for _, want := range []string{`<svg id="topology"`, ">server1<", ">server2<", d.token, d.farm.Config.FQDN} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	if code, js := d.get(t, "/static/app.js"); code != http.StatusOK || !strings.Contains(js, "EventSource") {
		t.Errorf("GET /static/app.js = %d", code)
	}
	st := d.state(t)
	if !st.LB.Reached || len(st.Hosts) != 2 || !st.Hosts[0].Healthy || !st.Hosts[1].Healthy {
		t.Fatalf("state = %+v, want the LB reached and both hosts healthy", st)
	}
	if len(st.Hosts[0].Keytab) == 0 || st.Hosts[0].Decrypts == "" || st.Directory == nil {
		t.Errorf("state lacks keytab, IIS or directory: %+v", st.Hosts[0])
	}
}

func testToken(t *testing.T, d *dash) {
	body := `{"name":"healthy","phase":"break"}`
	for _, tok := range []string{"", "not-the-token"} {
		if code := d.post(t, "/api/scenario", tok, body, nil); code != http.StatusForbidden {
			t.Errorf("POST /api/scenario with token %q = %d, want 403", tok, code)
		}
		if code := d.post(t, "/api/sample", tok, `{"n":1}`, nil); code != http.StatusForbidden {
			t.Errorf("POST /api/sample with token %q = %d, want 403", tok, code)
		}
	}
	var res struct{ OK bool }
	if code := d.post(t, "/api/scenario", d.token, body, &res); code != http.StatusOK || !res.OK {
		t.Errorf("POST /api/scenario with the token = %d %+v, want 200 ok", code, res)
	}
}

func testStream(t *testing.T, d *dash) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"api/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	c := labtest.Client(t, d.farm, "alice")
	if _, err := c.Get(ctx, d.farm.URL); err != nil {
		t.Fatalf("request through the LB: %v", err)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() { // bounded by ctx, which ends the body
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			event = v
		}
		if v, ok := strings.CutPrefix(line, "data: "); ok && event == "security" {
			var e struct {
				ID            int
				User, Package string
			}
			json.Unmarshal([]byte(v), &e)
			if e.ID == 4624 && strings.HasPrefix(e.User, "alice@") && e.Package == "Kerberos" {
				return
			}
		}
	}
	t.Fatalf("no 4624 for alice on the stream (%v)", errors.Join(sc.Err(), ctx.Err()))
}

func testSteps(t *testing.T, d *dash, name string) {
	for _, p := range []string{"break", "symptom", "diagnose", "fix", "verify"} {
		var res dashboard.PhaseResult
		code := d.post(t, "/api/scenario", d.token, `{"name":"`+name+`","phase":"`+p+`"}`, &res)
		if code != http.StatusOK || !res.OK {
			t.Fatalf("%s %s = %d ok=%v\n%s", name, p, code, res.OK, res.Output)
		}
		if p == "diagnose" && !strings.Contains(res.Output, "Verdict") && res.Cause == "" {
			t.Errorf("diagnose printed no report: %q", res.Output)
		}
	}
}

func testRun(t *testing.T, d *dash, name string) {
	var api dashboard.PhaseResult
	if code := d.post(t, "/api/scenario", d.token, `{"name":"`+name+`","phase":"run"}`, &api); code != http.StatusOK {
		t.Fatalf("run %s = %d\n%s", name, code, api.Output)
	}
	sc, _ := scenario.Find(name)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	want, err := sc.Run(ctx, d.farm.Admin(), io.Discard, 6)
	if err != nil {
		t.Fatal(err)
	}
	got := scenario.Result{Symptom: api.Symptom, Diagnosed: api.Diagnosed, Cured: api.Cured}
	if got.Symptom != want.Symptom || got.Diagnosed != want.Diagnosed || got.Cured != want.Cured || api.Cause != want.Report.Cause || !api.OK {
		t.Fatalf("API run = %+v cause %q; scenario.Run = %+v cause %q\n%s", got, api.Cause, want, want.Report.Cause, api.Output)
	}
	if !strings.Contains(api.Output, "Result: symptom seen") {
		t.Errorf("API run output lacks the result line:\n%s", api.Output)
	}
}

func testHostDown(t *testing.T, d *dash) {
	d.farm.Hosts[1].Kill()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		st := d.state(t)
		if h := st.Hosts[1]; !h.Healthy && h.Why != "" && st.Hosts[0].Healthy {
			t.Logf("%s down: %s", h.Name, h.Why)
			return
		}
		time.Sleep(100 * time.Millisecond) // polling the LB's view, bounded by the deadline
	}
	t.Fatalf("state still shows %s healthy 15s after kill", d.farm.Hosts[1].Name)
}

func TestListenRefusesNonLoopback(t *testing.T) {
	var nl *dashboard.NotLoopbackError
	if _, err := dashboard.Listen("0.0.0.0:0", false); !errors.As(err, &nl) {
		t.Fatalf("Listen(0.0.0.0:0) = %v, want NotLoopbackError", err)
	}
	ln, err := dashboard.Listen("", false)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !strings.HasPrefix(ln.Addr().String(), "127.0.0.1:") {
		t.Fatalf("default address %s, want 127.0.0.1", ln.Addr())
	}
}
