package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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
	for _, k := range []string{"orders", "tail_commands", "snapshot_load_ms", "replay_ms", "validate_ms", "rto_ms", "replay_commands_per_sec", "genesis_rto_ms", "standard_tail_rto_ms", "standard_tail_replay_ms", "standard_tail_validate_ms", "standard_tail_replay_commands_per_sec", "cold_log_rto_ms", "cold_log_open_ms", "cold_log_replay_ms", "cold_log_snapshot_load_ms", "first_restart_rto_ms", "first_restart_log_open_ms"} {
		if _, ok := got[k]; !ok {
			t.Errorf("missing %s in %s", k, out)
		}
	}
	if got["orders"] != 2000 || got["tail_commands"] != 3000 || got["rto_ms"] <= 0 || got["genesis_rto_ms"] <= 0 || got["replay_commands_per_sec"] <= 0 ||
		got["standard_tail_rto_ms"] <= 0 || got["standard_tail_replay_commands_per_sec"] <= 0 || got["cold_log_rto_ms"] <= 0 || got["first_restart_rto_ms"] <= 0 {
		t.Fatalf("implausible: %s", out)
	}
	// A missing --data directory is created; one that cannot be (its
	// parent is a file) is a clear error.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runApp(t, "bench", "recovery", "--data", filepath.Join(file, "dir"), "--orders", "10", "--tail", "0"); err == nil {
		t.Fatal("bench recovery in a directory that cannot exist: no error")
	}
}

// The restarted node is placed as serve places it: a usable CPU works, and
// a CPU the process may not use stops the run with an error naming it.
func TestBenchRecoveryPlacement(t *testing.T) {
	args := []string{"bench", "recovery", "--data", t.TempDir(), "--orders", "200", "--tail", "200", "--runs", "1", "--json"}
	if _, err := runApp(t, append(args, "--engine-cpu", "0")...); err != nil {
		t.Fatalf("pinned to CPU 0: %v", err)
	}
	_, err := runApp(t, append(args, "--engine-cpu", "4095")...)
	if err == nil || !strings.Contains(err.Error(), "4095") {
		t.Fatalf("impossible CPU: %v", err)
	}
}
