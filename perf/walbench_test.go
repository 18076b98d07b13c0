package perf

import (
	"testing"
	"time"
)

func TestIdealGroupCommit(t *testing.T) {
	// Syncs of 100 µs back to back; records every 50 µs: one arrives as a
	// sync starts (waits 100 µs), the next in the middle of it (waits for
	// the rest of it and the whole next one: 150 µs).
	ends := make([]time.Duration, 1000)
	for i := range ends {
		ends[i] = time.Duration(i+1) * 100 * time.Microsecond
	}
	var res WALBenchResult
	idealGroupCommit(ends, 20_000, &res)
	if res.FloorGroupCommitP50Us < 99.9 || res.FloorGroupCommitP50Us > 100.1 {
		t.Errorf("p50 %.1f µs, want 100", res.FloorGroupCommitP50Us)
	}
	if res.FloorGroupCommitP99Us < 149.9 || res.FloorGroupCommitP99Us > 150.1 {
		t.Errorf("p99 %.1f µs, want 150", res.FloorGroupCommitP99Us)
	}
	// A stall: one sync of 10 ms among 100 µs ones. Arrivals during it
	// weigh by its length: well over 1% of records wait more than 5 ms.
	ends = ends[:0]
	var t0 time.Duration
	for i := range 1000 {
		d := 100 * time.Microsecond
		if i == 500 {
			d = 10 * time.Millisecond
		}
		t0 += d
		ends = append(ends, t0)
	}
	idealGroupCommit(ends, 20_000, &res)
	if res.FloorGroupCommitP99Us < 5000 {
		t.Errorf("p99 %.1f µs with a 10 ms stall in 110 ms, want over 5 ms", res.FloorGroupCommitP99Us)
	}
}
