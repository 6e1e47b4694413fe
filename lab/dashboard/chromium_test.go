package dashboard_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/krbfarm/krbfarm/internal/chromiumtest"

	"github.com/chromedp/chromedp"

	"github.com/krbfarm/krbfarm/lab"
	"github.com/krbfarm/krbfarm/lab/labtest"
)

// The dashboard in a real browser: headless Chromium loads the page over
// plain HTTP on loopback (no CA, no Kerberos needed for the page itself),
// runs its JavaScript, follows the server-sent events and clicks a button.

const (
	browserTimeout = 40 * time.Second // farm excluded: browser, page, events, one scenario phase
	waitShown      = 15 * time.Second // for one thing to appear on the page
)

func TestDashboardInChromium(t *testing.T) {
	chromium := chromiumtest.Need(t)
	farm := labtest.Start(t, lab.Config{})
	d := startDashboard(t, farm)
	ctx, cancel := context.WithTimeout(t.Context(), browserTimeout)
	defer cancel()
	tab := startBrowser(ctx, t, chromium)
	if err := chromedp.Do(tab, chromedp.Navigate(d.url)); err != nil {
		t.Fatalf("load %s: %v", d.url, err)
	}
	t.Run("topology shows both hosts", func(t *testing.T) { browserTopology(t, tab, farm) })
	t.Run("a request through the LB appears as 4624", func(t *testing.T) { browserEvents(t, tab, d) })
	t.Run("break button changes the state shown", func(t *testing.T) { browserBreak(t, tab, farm) })
}

// startBrowser runs headless Chromium with a fresh profile and returns its
// first tab; Chromium exits when t ends.
func startBrowser(ctx context.Context, t *testing.T, chromium string) context.Context {
	t.Helper()
	return chromiumtest.Start(ctx, t, chromium).Tab
}

// poll waits, at most waitShown, for the JavaScript expression to be
// truthy, and returns its value.
func poll[T any](t *testing.T, tab context.Context, what, expr string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Poll[T](expr, chromedp.WithPollingTimeout(waitShown), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		body, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.querySelector("main")?.innerText ?? ""`))
		t.Fatalf("%s: %v\npage:\n%s", what, err, chromiumtest.Tail(body, 30))
	}
	return v
}

func browserTopology(t *testing.T, tab context.Context, farm *lab.Farm) {
	// The names drawn in the SVG, once it has a visible size.
	names := poll[[]string](t, tab, "topology drawn", `(() => {
		const svg = document.getElementById("topology"), r = svg?.getBoundingClientRect();
		const names = [...svg.querySelectorAll("g.node.host text:first-of-type")].map(n => n.textContent);
		return r && r.width > 0 && r.height > 0 && names.length ? names : false;
	})()`)
	for _, h := range farm.Hosts {
		if !slices.Contains(names, h.Name) {
			t.Errorf("topology shows hosts %q; want %s among them", names, h.Name)
		}
	}
}

// aliceLogons counts the page's 4624 rows for alice by Kerberos.
const aliceLogons = `[...document.querySelectorAll("#events tbody tr.e4624")].filter(
	tr => tr.cells[3].textContent.startsWith("alice@") && tr.cells[4].textContent === "Kerberos").length`

func browserEvents(t *testing.T, tab context.Context, d *dash) {
	poll[bool](t, tab, "event stream open", `document.getElementById("live").textContent === "live"`)
	before, err := chromedp.Run(tab, chromedp.Evaluate[int](aliceLogons))
	if err != nil {
		t.Fatal(err)
	}
	c := labtest.Client(t, d.farm, "alice")
	ctx, cancel := context.WithTimeout(t.Context(), waitShown)
	defer cancel()
	if _, err := c.Get(ctx, d.farm.URL); err != nil {
		t.Fatalf("request through the LB: %v", err)
	}
	after := poll[int](t, tab, "4624 row for alice", fmt.Sprintf(`(%s) > %d && (%s)`, aliceLogons, before, aliceLogons))
	t.Logf("4624 rows for alice: %d before the request, %d after", before, after)
}

// hostCell is the text of the Hosts table's cell col for host name.
func hostCell(name string, col int) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#hosts tbody tr")].find(
		tr => tr.cells[0].textContent.startsWith(%q + " "))?.cells[%d].textContent`, name, col)
}

// clockCol is the Hosts table's clock column.
const clockCol = 6

// browserBreak picks clock-skew and clicks its break button: the page
// posts with its own token, and the Hosts table then shows the second
// host's clock 10 minutes off.
func browserBreak(t *testing.T, tab context.Context, farm *lab.Farm) {
	h2 := farm.Hosts[1].Name
	if got := poll[string](t, tab, "clock shown", hostCell(h2, clockCol)); got != "0s" {
		t.Fatalf("%s clock %q before the break; want 0s", h2, got)
	}
	poll[bool](t, tab, "scenario list loaded", `!!document.querySelector('#scenario option[value="clock-skew"]')`)
	err := chromedp.Do(tab,
		chromedp.SetValue("#scenario", "clock-skew"),
		chromedp.Click(`button[data-phase="break"]`))
	if err != nil {
		t.Fatalf("click break: %v", err)
	}
	out := poll[string](t, tab, "break finished", `(() => { const o = document.getElementById("output").textContent; return o.includes("=> ") && o; })()`)
	if !strings.Contains(out, "=> OK") {
		t.Fatalf("break answered:\n%s", out)
	}
	poll[bool](t, tab, h2+" clock shown off", fmt.Sprintf(`(%s) === "10m0s"`, hostCell(h2, clockCol)))
}
