package main

import "testing"

func TestHostBenchParse(t *testing.T) {
	t.Setenv("BENCH_FARM_CONNS", "7")
	o, err := farmBench.parse([]string{"-rounds", "2"})
	if err != nil || o.conns != 7 || o.rounds != 2 || o.out != "bench/farmresults.json" {
		t.Fatalf("farm: %+v, %v; want conns 7 from BENCH_FARM_CONNS, rounds 2, the farm's results file", o, err)
	}
	if _, err := farmBench.parse([]string{"-soak", "1m"}); err == nil {
		t.Error("farm accepted -soak, which only auth has")
	}
	o, err = authBench.parse([]string{"-soak", "1m", "-out", "x.json"})
	if err != nil || o.soak.String() != "1m0s" || o.out != "x.json" {
		t.Fatalf("auth: %+v, %v; want soak 1m, out x.json", o, err)
	}
	if _, err := authBench.parse([]string{"-duration", "500ms"}); err == nil {
		t.Error("auth accepted a duration under 1s")
	}
}
