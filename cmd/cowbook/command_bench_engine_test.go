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
