package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The README's benchmark tables are generated from the committed results
// files: `krbfarm-bench tables` prints them, `-write` puts each between
// its markers in README.md (make benchtables), and TestReadmeBenchTables
// fails when the README and the files disagree.

// column is one subject of a table and its heading.
type column struct{ subject, heading string }

// tableSpec is one README table: which file, which metrics, which columns.
type tableSpec struct {
	name    string // its marker: <!-- bench-table: NAME -->
	file    string // relative to the repository root
	rerun   string // a second run of the same commit, if committed
	command string // what writes file
	layout  string // only metrics of this layout; "" = all
	corner  string // the header's first cell
	columns func(r *Results) []column
	label   func(m *Metric) string
}

// benchTables are the README's tables, in the README's order.
var benchTables = []tableSpec{
	{name: "hosts", file: "bench/authresults.json", command: "make authbench", corner: "per request, fresh AP-REQ each",
		columns: fixedColumns(column{subjKrbfarm, "krbfarm backend"}, column{subjApache, "Apache + mod_auth_gssapi"}), label: authLabel},
	{name: "farm", file: "bench/farmresults.json", command: "make farmbench", corner: "through the TLS front door, fresh AP-REQ each",
		columns: fixedColumns(column{subjKrbfarm, "krbfarm up (LB + 2 hosts)"}, column{subjHAApache, "HAProxy + 2 Apache"}), label: authLabel},
	{name: "lb-pinned", file: "bench/results.json", rerun: "bench/results-rerun.json", command: "make bench", layout: layoutPinned, corner: "pinned", columns: lbColumns, label: lbLabel},
	{name: "lb-unpinned", file: "bench/results.json", rerun: "bench/results-rerun.json", command: "make bench", layout: layoutUnpinned, corner: "unpinned", columns: lbColumns, label: lbLabel},
}

func fixedColumns(cs ...column) func(*Results) []column {
	return func(*Results) []column { return cs }
}

// lbColumns are krbfarm (and its extra engines, BENCH_ENGINES), HAProxy
// and nginx, with their versions.
func lbColumns(r *Results) []column {
	cols := []column{{subjKrbfarm, "krbfarm"}}
	seen := map[string]bool{}
	for _, m := range r.Metrics {
		for _, s := range sortedKeys(m.Values) {
			if strings.HasPrefix(s, subjKrbfarm+"-") && !seen[s] {
				seen[s] = true
				cols = append(cols, column{s, s})
			}
		}
	}
	return append(cols,
		column{subjHAProxy, strings.TrimSpace("HAProxy " + version(r.Machine["haproxy"], `version (\d+\.\d+)`))},
		column{subjNginx, strings.TrimSpace("nginx " + version(r.Machine["nginx"], `nginx/(\d+\.\d+)`) + " stream")})
}

// version is the first group of re in s, or "".
func version(s, re string) string {
	if m := regexp.MustCompile(re).FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// lbLabels shorten make bench's metric names; others are shown whole.
var lbLabels = map[string]string{
	"keep-alive small requests":               "keep-alive",
	"keep-alive small requests: CPU":          "keep-alive CPU",
	"new TCP connection per request":          "new connection",
	"new TCP connection per request: CPU":     "new connection CPU",
	"64 MiB bodies: CPU":                      "64 MiB bodies CPU",
	"TLS 1.3 new connection per request":      "TLS 1.3 handshakes",
	"TLS 1.3 new connection per request: CPU": "TLS 1.3 handshake CPU",
}

var idleName = regexp.MustCompile(`^idle connections \((\d+)\): (.*)$`)

func lbLabel(m *Metric) string {
	name := m.Name
	if l, ok := lbLabels[name]; ok {
		name = l
	} else if g := idleName.FindStringSubmatch(name); g != nil {
		name = g[1] + " idle connections: " + g[2]
		if strings.HasPrefix(m.Unit, g[2]+"/") { // "fds fds/conn"
			return g[1] + " idle connections: " + m.Unit
		}
	}
	return name + " " + m.Unit
}

// authLabel shortens the auth and farm benches' load names.
func authLabel(m *Metric) string {
	name := strings.Replace(m.Name, "new connection per request", "new connection", 1)
	name = strings.Replace(name, "keep-alive, fresh token per request", "keep-alive", 1)
	if !strings.Contains(name, ":") {
		name += ":"
	}
	return name + " " + m.Unit
}

// readResults reads a results file.
func readResults(path string) (*Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Results
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.upgrade()
	return &r, nil
}

// render is the table's markdown from r: the machine line, the table, and
// the notes and hosts served, if any.
func (ts tableSpec) render(r *Results) string {
	var b strings.Builder
	b.WriteString(ts.intro(r) + "\n\n")
	cols := ts.columns(r)
	b.WriteString("| " + ts.corner)
	for _, c := range cols {
		b.WriteString(" | " + c.heading)
	}
	b.WriteString(" | krbfarm / " + ts.peerHeading(cols) + " |\n|---" + strings.Repeat("|---", len(cols)+1) + "|\n")
	var notes []string
	for _, m := range ts.metrics(r) {
		b.WriteString("| " + ts.label(m))
		for _, c := range cols {
			b.WriteString(" | " + mdCell(m, c.subject))
			if n := m.Notes[c.subject]; n != "" {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", ts.label(m), c.heading, n))
			}
		}
		b.WriteString(" | " + mdRatio(m, len(cols) > 2) + " |\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n† " + strings.Join(notes, "; ") + "\n")
	}
	if s := ts.busyLines(r, cols); s != "" {
		b.WriteString("\n" + s)
	}
	if s := servedLine(r, cols); s != "" {
		b.WriteString("\n" + s + "\n")
	}
	if s := tlsLine(r, cols); s != "" {
		b.WriteString("\n" + s + "\n")
	}
	return b.String()
}

// tlsLine says what each front door negotiated (make farmbench's
// settings "tls SUBJECT").
func tlsLine(r *Results, cols []column) string {
	var parts []string
	for _, c := range cols {
		if v := r.Settings["tls "+c.subject]; v != "" {
			parts = append(parts, c.heading+": "+v)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "TLS negotiated with the load generator: " + strings.Join(parts, "; ") + "."
}

// metrics are r's metrics this table shows.
func (ts tableSpec) metrics(r *Results) []*Metric {
	var out []*Metric
	for _, m := range r.Metrics {
		if ts.layout == "" || m.Layout == ts.layout {
			out = append(out, m)
		}
	}
	return out
}

// peerHeading is the ratio column's divisor: the one peer, or "best".
func (ts tableSpec) peerHeading(cols []column) string {
	if len(cols) == 2 {
		return cols[1].heading
	}
	return "best"
}

// intro is the line above the table: where it ran and how.
func (ts tableSpec) intro(r *Results) string {
	rounds, _, _ := strings.Cut(r.Settings["rounds"], ",")
	pin := r.Settings["pinning"]
	if ts.layout != "" {
		pin = r.Settings["pinning "+ts.layout]
	}
	commit, _, _ := strings.Cut(r.Machine["krbfarm"], " ")
	return fmt.Sprintf("`%s`, `%s`: %s CPUs (%s), kernel %s, %s, krbfarm %s; %s interleaved rounds of %s; %s. "+
		"Median (min..max) of the rounds; the ratio is the median (min..max) of krbfarm's per-round ratios to the peer "+
		"(each round runs every subject back to back, so the machine's drift common to a round cancels), "+
		"\"tie\" when that range holds 1.0 or shows as 1.00..1.00; CPU lines are per operation.",
		ts.command, ts.file, r.Machine["nproc"], r.Machine["cpu"], r.Machine["kernel"], r.Machine["go"], commit,
		rounds, r.Settings["duration"], pin)
}

// mdCell is a subject's median and range as formatCell prints them, with
// "†" when it has a note.
func mdCell(m *Metric, s string) string { return formatCell(m, s, " †") }

// mdRatio is "0.84x nginx (0.80..0.88)", "0.38x (0.35..0.41, 2.6x
// less)", "1.02x (0.97..1.05, tie)".
func mdRatio(m *Metric, namePeer bool) string {
	if m.Ratio == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.2fx", m.Ratio)
	if namePeer {
		s += " " + m.BestPeer
	}
	var tail []string
	if r := ratioRange(m); r != "" {
		tail = append(tail, r)
	}
	switch {
	case m.Tie:
		tail = append(tail, "tie")
	case m.Better == lower && m.Ratio < 1:
		tail = append(tail, fmt.Sprintf("%.1fx less", 1/m.Ratio))
	}
	if len(tail) > 0 {
		s += " (" + strings.Join(tail, ", ") + ")"
	}
	return s
}

// servedLine says how many requests each host of each farm answered.
func servedLine(r *Results, cols []column) string {
	var parts []string
	for _, load := range sortedKeys(r.Served) {
		for _, c := range cols {
			if m := r.Served[load][c.subject]; len(m) > 0 {
				parts = append(parts, fmt.Sprintf("%s, %s: %s", load, c.heading, formatServed(m)))
			}
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "Requests each host answered (its `X-Backend`), all rounds: " + strings.Join(parts, "; ") + "."
}

// generateTables renders every table whose results file exists under
// root and holds its metrics (a run of one layout has no table for the
// other), by name.
func generateTables(root string) (map[string]string, error) {
	out := map[string]string{}
	read := memoRead(root)
	for _, ts := range benchTables {
		r, err := read(ts.file)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(ts.metrics(r)) > 0 {
			t := ts.render(r)
			if ts.rerun != "" {
				line, err := ts.rerunLine(read, r)
				if err != nil {
					return nil, err
				}
				if line != "" {
					t += "\n" + line + "\n"
				}
			}
			out[ts.name] = t
		}
	}
	return out, nil
}

// rerunLine says whether the committed second run finds the table's
// paired ratios again (what `krbfarm-bench agree` judges), and names the
// ones it does not; "" when there is no second run.
func (ts tableSpec) rerunLine(read func(string) (*Results, error), r *Results) (string, error) {
	b, err := read(ts.rerun)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	commitA, _, _ := strings.Cut(r.Machine["krbfarm"], " ")
	commitB, _, _ := strings.Cut(b.Machine["krbfarm"], " ")
	if commitA != commitB {
		return "", fmt.Errorf("%s measured krbfarm %s but %s measured %s: rerun make bench with BENCH_OUT=%s, or delete it",
			ts.file, commitA, ts.rerun, commitB, ts.rerun)
	}
	var n int
	var chance float64
	var off []string
	labels := map[string]string{}
	for _, m := range ts.metrics(r) {
		labels[m.Name] = ts.label(m)
	}
	for _, g := range compareRatios(r, b) {
		if ts.layout != "" && g.layout != ts.layout {
			continue
		}
		n++
		chance += 1 - chanceAgree(len(g.a.Rounds), len(g.b.Rounds))
		if !g.agree {
			off = append(off, fmt.Sprintf("%s vs %s: %.3f (%.3f..%.3f) then %.3f (%.3f..%.3f), a median %.1f%% outside",
				labels[g.metric], g.peer, g.a.Median, g.a.Range.min(), g.a.Range.max(),
				g.b.Median, g.b.Range.min(), g.b.Range.max(), 100*g.outside()))
		}
	}
	if n == 0 {
		return "", nil
	}
	line := fmt.Sprintf("A second run of the same commit, `%s` (`bin/krbfarm-bench agree %s %s`): %d of %d paired ratios "+
		"(krbfarm to each peer, this layout) have each run's median inside the other run's range "+
		"(chance alone, rounds drawn alike with no drift, would leave about %.1f outside)",
		ts.rerun, ts.file, ts.rerun, n-len(off), n, chance)
	if len(off) == 0 {
		return line + ".", nil
	}
	return line + "; not: " + strings.Join(off, "; ") + ".", nil
}

// memoRead reads each results file under root once, however many tables
// come from it.
func memoRead(root string) func(string) (*Results, error) {
	type entry struct {
		r   *Results
		err error
	}
	seen := map[string]entry{}
	return func(file string) (*Results, error) {
		if e, ok := seen[file]; ok {
			return e.r, e.err
		}
		r, err := readResults(filepath.Join(root, file))
		seen[file] = entry{r, err}
		return r, err
	}
}
