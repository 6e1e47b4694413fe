package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestReadmeBenchTables fails when a table of README.md's "Benchmarks"
// differs from what the committed results files produce: run `make
// benchtables` after a bench run to regenerate them.
func TestReadmeBenchTables(t *testing.T) {
	tables, err := generateTables("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) == 0 {
		t.Fatal("no results file found under bench/")
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	spans, err := findBlocks(string(b))
	if err == nil {
		err = checkBlocks(spans, tables)
	}
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	for _, s := range spans {
		if got := string(b[s.start:s.end]); got != tables[s.name] {
			t.Errorf("README.md block %q differs from what its results file gives (run make benchtables):\n got: %q\nwant: %q", s.name, got, tables[s.name])
		}
	}
}

func TestReplaceBlocks(t *testing.T) {
	tables := map[string]string{"hosts": "new hosts\n", "farm": "new farm\n"}
	tests := []struct {
		name, in, want, err string
	}{
		{name: "both replaced",
			in:   "a\n" + blockStart + "hosts -->\nold\n" + blockEnd + "\nb\n" + blockStart + "farm -->\n" + blockEnd + "\n",
			want: "a\n" + blockStart + "hosts -->\nnew hosts\n" + blockEnd + "\nb\n" + blockStart + "farm -->\nnew farm\n" + blockEnd + "\n"},
		{name: "no end", in: blockStart + "hosts -->\nold\n" + blockStart + "farm -->\n" + blockEnd + "\n", err: "starts inside"},
		{name: "end without start", in: blockEnd + "\n", err: "without a start"},
		{name: "unterminated", in: blockStart + "farm -->\n" + blockStart + "hosts -->\nold\n", err: "has no"},
		{name: "unknown block", in: blockStart + "lb-pinned -->\n" + blockEnd + "\n", err: `block "lb-pinned": no such table`},
		{name: "table without block", in: blockStart + "hosts -->\n" + blockEnd + "\n", err: `no block "farm"`},
		{name: "twice", in: strings.Repeat(blockStart+"hosts -->\n"+blockEnd+"\n", 2) + blockStart + "farm -->\n" + blockEnd + "\n", err: "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := replaceBlocks(tt.in, tables)
			switch {
			case tt.err == "" && err != nil:
				t.Fatalf("error %v; want none", err)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v; want one with %q", err, tt.err)
			case got != tt.want:
				t.Fatalf("got %q; want %q", got, tt.want)
			}
		})
	}
}

func TestRenderTable(t *testing.T) {
	rps := newMetric("keep-alive, fresh token per request", "req/s", higher)
	cpu := newMetric("keep-alive, fresh token per request: farm CPU", "µs/req", lower)
	for i, v := range []float64{100, 120, 110} {
		rps.set(subjKrbfarm, v, "")
		rps.set(subjHAApache, []float64{95, 125, 105}[i], "") // paired: 1.053, 0.96, 1.048
		cpu.set(subjKrbfarm, v, "")
		cpu.set(subjHAApache, 4*v, "")
	}
	cpu.Notes[subjHAApache] = "3 requests failed"
	for _, m := range []*Metric{rps, cpu} {
		m.peers = []string{subjHAApache}
		m.computeRatio()
	}
	r := &Results{Machine: map[string]string{"nproc": "2", "krbfarm": "abc123 (bin/krbfarm)"},
		Settings: map[string]string{"rounds": "3, interleaved", "duration": "2s", "pinning": "taskset"},
		Metrics:  []*Metric{rps, cpu},
		Served:   map[string]map[string]map[string]int{"keep-alive": {subjKrbfarm: {"server1": 7, "server2": 8}}}}
	got := benchTables[1].render(r)
	for _, want := range []string{
		"krbfarm abc123; 3 interleaved rounds of 2s; taskset.",
		"| keep-alive: req/s | 110 (100..120) | 105 (95..125) | 1.05x (0.96..1.05, tie) |",
		"| keep-alive: farm CPU µs/req | 110.0 (100.0..120.0) | 440.0 (400.0..480.0) † | 0.25x (0.25..0.25, 4.0x less) |",
		"† keep-alive: farm CPU µs/req, HAProxy + 2 Apache: 3 requests failed",
		"keep-alive, krbfarm up (LB + 2 hosts): server1 7, server2 8.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
}

// A make bench run of one layout (BENCH_LAYOUTS=pinned) has no table for
// the other: the README's block for it is then reported, not left empty.
func TestGenerateTablesOneLayout(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(root+"/bench", 0o755); err != nil {
		t.Fatal(err)
	}
	m := newMetric("keep-alive small requests", "req/s", higher)
	m.Layout = layoutPinned
	m.set(subjKrbfarm, 10, "")
	m.set("krbfarm-goroutine", 9, "")
	m.set(subjHAProxy, 11, "")
	m.computeRatio()
	if err := writeJSON(root+"/bench/results.json", &Results{Machine: map[string]string{}, Settings: map[string]string{}, Metrics: []*Metric{m}}); err != nil {
		t.Fatal(err)
	}
	tables, err := generateTables(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tables["lb-unpinned"]; ok {
		t.Errorf("an lb-unpinned table from a pinned-only run")
	}
	if got, want := tables["lb-pinned"], "| keep-alive req/s | 10 | 9 | 11 | - | 0.91x haproxy |"; !strings.Contains(got, want) {
		t.Errorf("lb-pinned table lacks %q:\n%s", want, got)
	}
	if _, err := replaceBlocks(block("lb-pinned", "")+block("lb-unpinned", ""), tables); err == nil || !strings.Contains(err.Error(), `"lb-unpinned": no such table`) {
		t.Errorf("README with an lb-unpinned block: error %v; want one naming it", err)
	}
}

func TestServedNotes(t *testing.T) {
	served := map[string]map[string]map[string]int{
		"keep-alive": {
			subjKrbfarm:  {"server1": 5, "server2": 4},
			subjHAApache: {"apache1": 9, "apache2": 0},
		},
		"new connection": {
			subjKrbfarm:  {"": 3, "server1": 6},
			subjHAApache: {"apache1": 1, "apache2": 1},
		},
	}
	got := servedNotes(served, []string{subjKrbfarm, subjHAApache})
	want := []string{
		"keep-alive, haproxy+apache: 1 host(s) answered; want 2",
		"new connection, krbfarm: 1 host(s) answered; want 2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got %q; want %q", got, want)
	}
	if got, want := formatServed(served["new connection"][subjKrbfarm]), "(no header) 3, server1 6"; got != want {
		t.Errorf("formatServed: got %q; want %q", got, want)
	}
}

// A committed second run adds a line under the LB tables naming the
// paired ratios it does not find again; a second run of another commit
// is refused, not compared.
func TestRerunLine(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(root+"/bench", 0o755); err != nil {
		t.Fatal(err)
	}
	run := func(commit string, krbfarm, haproxy []float64) *Results {
		m := newMetric("new TCP connection per request", "conn/s", higher)
		m.Layout = layoutPinned
		for i := range krbfarm {
			m.set(subjKrbfarm, krbfarm[i], "")
			m.set(subjHAProxy, haproxy[i], "")
		}
		m.computeRatio()
		return &Results{Machine: map[string]string{"krbfarm": commit + " (bin/krbfarm)"}, Settings: map[string]string{}, Metrics: []*Metric{m}}
	}
	write := func(name string, r *Results) {
		if err := writeJSON(root+"/bench/"+name, r); err != nil {
			t.Fatal(err)
		}
	}
	write("results.json", run("abc1234", []float64{100, 110, 105}, []float64{100, 100, 100}))
	write("results-rerun.json", run("abc1234", []float64{90, 92, 91}, []float64{100, 100, 100}))
	tables, err := generateTables(root)
	if err != nil {
		t.Fatal(err)
	}
	want := "0 of 1 paired ratios (krbfarm to each peer, this layout) have each run's median inside the other run's range " +
		fmt.Sprintf("(chance alone, rounds drawn alike with no drift, would leave about %.1f outside); ", 1-chanceAgree(3, 3)) +
		"not: new connection conn/s vs haproxy: 1.050 (1.000..1.100) then 0.910 (0.900..0.920)"
	if got := tables["lb-pinned"]; !strings.Contains(got, want) {
		t.Errorf("lb-pinned table lacks %q:\n%s", want, got)
	}

	write("results-rerun.json", run("def5678", []float64{100, 110, 105}, []float64{100, 100, 100}))
	if _, err := generateTables(root); err == nil || !strings.Contains(err.Error(), "BENCH_OUT=bench/results-rerun.json") {
		t.Errorf("second run of another commit: error %v; want one saying how to redo it", err)
	}
}
