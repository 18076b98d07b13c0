package perf

import "testing"

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	for i := int64(1); i <= 1000; i++ {
		h.Record(i * 1000) // 1 µs … 1 ms
	}
	if h.Count() != 1000 {
		t.Fatalf("count %d", h.Count())
	}
	check := func(q float64, want int64) {
		got := h.Quantile(q)
		if got < want*999/1000 || got > want*1001/1000 {
			t.Errorf("q%.3f = %d, want ≈ %d", q, got, want)
		}
	}
	check(0.5, 500_000)
	check(0.99, 990_000)
	check(1, 1_000_000)
	if c := h.Curve(); len(c) < 5 || c[len(c)-1].Percentile != 100 {
		t.Errorf("curve %v does not reach the 100th percentile", c)
	}
	allocs := testing.AllocsPerRun(1000, func() { h.Record(1234) })
	if allocs != 0 {
		t.Errorf("Record allocates %.1f per call", allocs)
	}
}
