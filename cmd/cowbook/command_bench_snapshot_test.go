package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestBenchSnapshotJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("takes a few seconds")
	}
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"cowbook", "bench", "snapshot", "--orders", "20000", "--snapshots", "20", "--data", t.TempDir(), "--json"}); err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"orders", "arena_bytes", "fork_pause_p50_us", "fork_pause_p99_us", "fork_pause_max_us",
		"stw_pause_p50_us", "pause_ratio", "snapshot_ms", "file_bytes", "cow_extra_bytes",
		"engine_ops_per_sec_during_snapshot", "engine_ops_per_sec_idle"} {
		if _, ok := res[k]; !ok {
			t.Errorf("missing field %q", k)
		}
	}
	if res["orders"].(float64) != 20000 || res["file_bytes"].(float64) <= 0 {
		t.Errorf("orders %v, file_bytes %v, arena_bytes %v", res["orders"], res["file_bytes"], res["arena_bytes"])
	}
}
