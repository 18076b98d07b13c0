package main

import (
	"encoding/json"
	"testing"
)

func TestBenchRecovery(t *testing.T) {
	out, err := runApp(t, "bench", "recovery", "--data", t.TempDir(), "--orders", "2000", "--tail", "3000", "--runs", "1", "--buffered", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"orders", "tail_commands", "snapshot_load_ms", "replay_ms", "validate_ms", "rto_ms", "replay_commands_per_sec", "genesis_rto_ms"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s in %s", k, out)
		}
	}
	if got["orders"] != 2000 || got["tail_commands"] != 3000 || got["rto_ms"] <= 0 || got["genesis_rto_ms"] <= 0 || got["replay_commands_per_sec"] <= 0 {
		t.Fatalf("implausible: %s", out)
	}
	if _, err := runApp(t, "bench", "recovery", "--data", "/nonexistent/dir", "--orders", "10", "--tail", "0"); err == nil {
		t.Fatal("bench recovery in a missing directory: no error")
	}
}
