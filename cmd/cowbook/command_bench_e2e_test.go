package main

import (
	"encoding/json"
	"testing"
)

func TestBenchE2E(t *testing.T) {
	out, err := runApp(t, "bench", "e2e", "--data", t.TempDir(), "--duration", "300ms", "--conns", "2", "--rate", "500",
		"--floor-samples", "20", "--buffered", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, k := range []string{"floor_fdatasync_p50_us", "moderate_ack_p50_us", "ack_p50_floor_ratio", "closed_acked_orders_per_sec", "closed_ack_p99_us", "closed_ack_p999_us"} {
		if v, ok := got[k].(float64); !ok || v <= 0 {
			t.Errorf("%s = %v in %s", k, got[k], out)
		}
	}
}
