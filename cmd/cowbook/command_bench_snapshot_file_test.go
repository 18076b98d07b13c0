package main

import (
	"encoding/json"
	"testing"
)

func TestBenchSnapshotFile(t *testing.T) {
	out, err := runApp(t, "bench", "snapshot-file", "--arena-bytes", "4194304", "--runs", "1", "--dir", t.TempDir(), "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]float64
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	for _, k := range []string{"arena_bytes", "file_bytes", "write_bytes_per_sec", "write_bytes_per_sec_per_core",
		"load_bytes_per_sec", "load_bytes_per_sec_1core", "memcpy_bytes_per_sec", "lz4_decompress_bytes_per_sec", "load_vs_lz4_ratio", "load_parallel_cpu_efficiency"} {
		if got[k] <= 0 {
			t.Errorf("%s = %v in %s", k, got[k], out)
		}
	}
	if got["arena_bytes"] != 4194304 || got["file_bytes"] >= got["arena_bytes"] {
		t.Errorf("sizes: %s", out)
	}
	if out, err := runApp(t, "bench", "snapshot-file", "--arena-bytes", "1048576", "--runs", "1", "--dir", t.TempDir()); err != nil || len(out) == 0 {
		t.Fatalf("text output: %v\n%s", err, out)
	}
}

// Placement: a CPU the process may not use is reported and the run goes
// on; --writer-cpu, which has no thread to act on here, is an error.
func TestBenchSnapshotFilePlacement(t *testing.T) {
	small := []string{"bench", "snapshot-file", "--arena-bytes", "1048576", "--runs", "1", "--dir", t.TempDir(), "--json"}
	out, err := runApp(t, append(small, "--engine-cpu", "4095")...)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Refused []string `json:"placement_refused"`
		Arena   int64    `json:"arena_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 1 || res.Arena != 1048576 {
		t.Fatalf("refused %q, arena %d: want the impossible CPU reported and a full run", res.Refused, res.Arena)
	}
	if _, err := runApp(t, append(small, "--writer-cpu", "0")...); err == nil {
		t.Fatal("--writer-cpu accepted by bench snapshot-file")
	}
}
