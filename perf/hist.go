package perf

import (
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram records latencies in nanoseconds from 1 ns to 100 s with three
// significant digits, in constant memory, without allocating per record.
type Histogram struct {
	h *hdr.Histogram
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{h: hdr.New(1, int64(100*time.Second), 3)}
}

// Record adds one latency in nanoseconds; values out of range are clamped.
func (h *Histogram) Record(ns int64) {
	if ns < 1 {
		ns = 1
	}
	if ns > h.h.HighestTrackableValue() {
		ns = h.h.HighestTrackableValue()
	}
	_ = h.h.RecordValue(ns)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) { h.h.Merge(o.h) }

// Reset empties the histogram.
func (h *Histogram) Reset() { h.h.Reset() }

// Count returns the number of values recorded.
func (h *Histogram) Count() int64 { return h.h.TotalCount() }

// Quantile returns the value at quantile q in [0, 1], in nanoseconds.
func (h *Histogram) Quantile(q float64) int64 { return h.h.ValueAtQuantile(q * 100) }

// Max returns the largest value recorded.
func (h *Histogram) Max() int64 { return h.h.Max() }

// Mean returns the mean value recorded.
func (h *Histogram) Mean() float64 { return h.h.Mean() }

// CurvePoint is one point of a percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	ValueNs    int64   `json:"value_ns"`
}

// Curve returns the percentile distribution at log-spaced percentiles
// (50, 75, 87.5, … up to the maximum), the shape HDR plots use.
func (h *Histogram) Curve() []CurvePoint {
	var out []CurvePoint
	for _, b := range h.h.CumulativeDistributionWithTicks(5) {
		if b.Count == 0 {
			continue
		}
		out = append(out, CurvePoint{Percentile: b.Quantile, ValueNs: b.ValueAt})
	}
	return out
}
