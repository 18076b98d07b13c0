package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBenchEngineJSON(t *testing.T) {
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"cowbook", "bench", "engine", "--ops", "20000", "--seed", "2", "--runs", "2", "--json"}); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"ops", "seconds", "ops_per_sec", "p50_ns", "p99_ns", "p999_ns", "allocs_per_op",
		"trades", "traded_qty", "rejects", "resting_orders", "bid_qty", "ask_qty", "state_hash"} {
		if _, ok := res[k]; !ok {
			t.Errorf("missing %q", k)
		}
	}
	if res["ops"].(float64) != 20000 || res["ops_per_sec"].(float64) <= 0 || res["trades"].(float64) == 0 {
		t.Errorf("implausible result %v", res)
	}
	if res["naive_trades_match"] != true {
		t.Errorf("the naive ceiling did different matching work: %v", res)
	}
	if res["allocs_per_op"].(float64) > 0.001 {
		t.Errorf("allocs per op %v", res["allocs_per_op"])
	}
}

func TestBenchEngineInputMatchesGenerated(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "w.txt")
	if err := newApp().Run([]string{"cowbook", "gen", "--ops", "10000", "--seed", "5", "--out", in}); err != nil {
		t.Fatal(err)
	}
	hash := func(args ...string) string {
		var out bytes.Buffer
		app := newApp()
		app.Writer = &out
		if err := app.Run(append([]string{"cowbook", "bench", "engine", "--runs", "1", "--json"}, args...)); err != nil {
			t.Fatal(err)
		}
		var res struct {
			StateHash string `json:"state_hash"`
		}
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		return res.StateHash
	}
	if a, b := hash("--input", in), hash("--ops", "10000", "--seed", "5"); a != b || a == "" {
		t.Fatalf("file replay hash %s, generated %s", a, b)
	}
	prof := filepath.Join(dir, "cpu.prof")
	var out bytes.Buffer
	app := newApp()
	app.Writer = &out
	if err := app.Run([]string{"cowbook", "bench", "engine", "--ops", "10000", "--runs", "2", "--cpuprofile", prof}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(prof); err != nil || st.Size() == 0 {
		t.Fatalf("cpu profile: %v", err)
	}
	if !strings.Contains(out.String(), "ops/s") {
		t.Fatalf("human output: %s", out.String())
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("S,X,1,1,10\nN,X,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := newApp().Run([]string{"cowbook", "bench", "engine", "--input", bad})
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("bad input: %v", err)
	}
}

// TestBenchEngineProfilesPlacementCounters: the profile flags write their
// files, a placement the kernel refuses is reported (JSON and stderr) and
// the run goes on, hardware counters are figures or a reason, and the
// latency curve is there for the report.
func TestBenchEngineProfilesPlacementCounters(t *testing.T) {
	dir := t.TempDir()
	cpu, mem, trace := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof"), filepath.Join(dir, "trace.out")
	var out, errOut bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run([]string{"cowbook", "bench", "engine", "--ops", "20000", "--runs", "2", "--json",
		"--engine-cpu", "4095", "--cpuprofile", cpu, "--memprofile", mem, "--trace", trace})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Ops          int `json:"ops"`
		LatencyCurve []struct {
			Percentile float64 `json:"percentile"`
			ValueNs    int64   `json:"value_ns"`
		} `json:"latency_curve"`
		Counters  map[string]any `json:"counters"`
		Placement struct {
			EngineCPU    int    `json:"engine_cpu"`
			Pinned       bool   `json:"pinned"`
			PinError     string `json:"pin_error"`
			NaiveSkipped bool   `json:"naive_skipped"`
		} `json:"placement"`
		NaiveOpsPerSec float64 `json:"naive_ops_per_sec"`
	}
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	if res.Ops != 20000 || len(res.LatencyCurve) < 3 || res.LatencyCurve[len(res.LatencyCurve)-1].Percentile != 100 {
		t.Errorf("latency curve %v", res.LatencyCurve)
	}
	if res.Placement.EngineCPU != 4095 || res.Placement.Pinned || res.Placement.PinError == "" ||
		!strings.Contains(errOut.String(), "placement refused") {
		t.Errorf("refused pinning not reported: %+v, stderr %q", res.Placement, errOut.String())
	}
	if !res.Placement.NaiveSkipped || res.NaiveOpsPerSec != 0 {
		t.Errorf("naive ceiling ran while profiling: %+v", res)
	}
	switch res.Counters["supported"] {
	case true:
		if res.Counters["instructions_per_op"].(float64) <= 0 {
			t.Errorf("counters %v", res.Counters)
		}
	case false:
		if res.Counters["reason"] == "" || res.Counters["cycles_per_op"] != nil {
			t.Errorf("unsupported counters must give a reason and no figures: %v", res.Counters)
		}
	default:
		t.Errorf("counters %v", res.Counters)
	}
	for _, f := range []string{cpu, mem, trace} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
