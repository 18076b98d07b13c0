package main

import (
	"encoding/json"
	"testing"
)

func TestBenchWALJSON(t *testing.T) {
	out, err := runApp(t, "bench", "wal", "--data", t.TempDir(), "--json",
		"--records", "20000", "--rate", "2000", "--paced-duration", "200ms",
		"--floor-samples", "50", "--floor-bytes", "8388608", "--segment-size", "1048576",
		// Enough 1 MiB segments for the retention, which truncates every
		// 5 ms, to refill the recycle pool during the timed window.
		"--recycled-records", "200000")
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]float64
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		// Dir is a string; decode numbers only.
		var raw map[string]any
		if err := json.Unmarshal([]byte(out), &raw); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out)
		}
		res = map[string]float64{}
		for k, v := range raw {
			if f, ok := v.(float64); ok {
				res[k] = f
			}
		}
	}
	for _, k := range []string{"floor_fdatasync_p50_us", "floor_fdatasync_p99_us", "floor_bandwidth_bytes_per_sec",
		"records_per_sec", "bytes_per_sec", "bandwidth_ratio", "commit_p50_us", "commit_p99_us", "commit_p999_us",
		"commit_p50_ratio", "avg_batch_records", "recycled_records_per_sec", "recycled_bytes_per_sec",
		"recycled_bandwidth_ratio", "recycled_segments_reused", "write_busy_fraction", "recycled_write_busy_fraction",
		"floor_bandwidth_small_pages_bytes_per_sec", "small_pages_bandwidth_ratio", "recycled_small_pages_bandwidth_ratio",
		"burst_records_per_sec", "burst_bandwidth_ratio", "burst_prepared_segments",
		"paced_write_avg_us", "paced_sync_avg_us", "paced_write_busy_fraction", "paced_sync_busy_fraction"} {
		if v, ok := res[k]; !ok || v <= 0 {
			t.Errorf("%s = %v, %v; want a positive figure", k, v, ok)
		}
	}
	if res["saturate_records"] != 20000 || res["recycled_records"] != 200000 {
		t.Errorf("saturate_records = %v, recycled_records = %v", res["saturate_records"], res["recycled_records"])
	}
	// One pwrite and one fdatasync at a time: neither stage is in flight
	// for longer than the paced run lasted.
	for _, k := range []string{"paced_write_busy_fraction", "paced_sync_busy_fraction"} {
		if res[k] > 1.05 {
			t.Errorf("%s = %v; want at most 1", k, res[k])
		}
	}
	// 20,000 records of 88 bytes fill two 1 MiB segments: three prepared.
	if res["burst_prepared_segments"] != 3 || res["burst_segment_switches"] != 1 {
		t.Errorf("burst_prepared_segments = %v, burst_segment_switches = %v; want 3, 1", res["burst_prepared_segments"], res["burst_segment_switches"])
	}
}

// Placement: a CPU the process may not use is reported, not ignored, and
// the run goes on; --prefault, which has nothing to act on, is an error.
func TestBenchWALPlacement(t *testing.T) {
	small := []string{"bench", "wal", "--data", t.TempDir(), "--json",
		"--records", "5000", "--rate", "2000", "--paced-duration", "100ms",
		"--floor-samples", "20", "--floor-bytes", "4194304", "--segment-size", "1048576"}
	out, err := runApp(t, append(small, "--engine-cpu", "4095", "--writer-cpu", "0")...)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Refused []string `json:"placement_refused"`
		Records float64  `json:"saturate_records"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Refused) != 1 || res.Records != 5000 {
		t.Fatalf("refused %q, records %v: want the impossible engine CPU reported and a full run", res.Refused, res.Records)
	}
	if _, err := runApp(t, append(small, "--prefault")...); err == nil {
		t.Fatal("--prefault accepted by bench wal")
	}
}
