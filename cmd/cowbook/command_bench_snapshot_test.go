package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cowbook/cowbook/perf"
)

func TestBenchSnapshotJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"cowbook", "bench", "snapshot", "--orders", "20000", "--snapshots", "20", "--workload", "both", "--workload-ops", "50000", "--data", t.TempDir(), "--json"}); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"orders", "arena_bytes", "fork_pause_p50_us", "fork_pause_p99_us", "fork_pause_max_us",
		"stw_pause_p50_us", "pause_ratio", "snapshot_ms", "file_bytes", "cow_extra_bytes",
		"engine_ops_per_sec_during_snapshot", "engine_ops_per_sec_idle",
		"workload_name", "standard_commands_per_pass", "standard_passes",
		"churn_engine_ops_per_sec_during_snapshot", "churn_engine_ops_per_sec_idle", "churn_throughput_ratio"} {
		if _, ok := res[k]; !ok {
			t.Errorf("missing field %q", k)
		}
	}
	if res["orders"].(float64) != 20000 || res["file_bytes"].(float64) <= 0 {
		t.Errorf("orders %v, file_bytes %v, arena_bytes %v", res["orders"], res["file_bytes"], res["arena_bytes"])
	}
	if res["workload_name"] != "standard" || res["standard_passes"].(float64) < 1 {
		t.Errorf("workload_name %v, standard_passes %v", res["workload_name"], res["standard_passes"])
	}
	for _, k := range []string{"engine_ops_per_sec_during_snapshot", "engine_ops_per_sec_idle",
		"churn_engine_ops_per_sec_during_snapshot", "churn_engine_ops_per_sec_idle"} {
		if v, _ := res[k].(float64); v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}

	// The throughput timeline (docs/report.md) covers the marked snapshot:
	// samples before it starts and after it ends, rates that are rates.
	var tl struct {
		Points []struct {
			TMs       float64 `json:"t_ms"`
			OpsPerSec float64 `json:"ops_per_sec"`
		} `json:"throughput_timeline"`
		Spans []struct {
			StartMs float64 `json:"start_ms"`
			EndMs   float64 `json:"end_ms"`
			Label   string  `json:"label"`
		} `json:"timeline_spans"`
	}
	if err := json.Unmarshal(out.Bytes(), &tl); err != nil {
		t.Fatal(err)
	}
	if len(tl.Spans) != 1 || tl.Spans[0].Label != "snapshot" || tl.Spans[0].EndMs <= tl.Spans[0].StartMs {
		t.Fatalf("timeline spans %+v", tl.Spans)
	}
	snap := tl.Spans[0]
	var before, after int
	for i, p := range tl.Points {
		if p.OpsPerSec < 0 || (i > 0 && p.TMs <= tl.Points[i-1].TMs) {
			t.Fatalf("timeline point %d: %+v", i, p)
		}
		if p.TMs < snap.StartMs {
			before++
		}
		if p.TMs > snap.EndMs {
			after++
		}
	}
	if before < 10 || after < 10 {
		t.Errorf("timeline has %d points before the snapshot and %d after; want ≥ 10 each", before, after)
	}
}

func TestBenchSnapshotBadWorkload(t *testing.T) {
	app := newApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run([]string{"cowbook", "bench", "snapshot", "--orders", "1000", "--workload", "nope", "--data", t.TempDir(), "--json"})
	if !errors.Is(err, perf.ErrWorkload) {
		t.Fatalf("err = %v, want perf.ErrWorkload", err)
	}
}
