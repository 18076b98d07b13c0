package node

import (
	"sync"

	"github.com/cowbook/cowbook/perf"
)

// sampleMask makes the latency recorder time one command in 16: reading
// the clock twice per command would cost more than a small command.
const sampleMask = 15

// latency holds the node's latency histograms: engine apply time, commit
// latency (log append to durable) and acknowledgement latency (request
// taken from the gateway to its outcome released).
type latency struct {
	mu     sync.Mutex
	apply  *perf.Histogram
	commit *perf.Histogram
	ack    *perf.Histogram
}

func newLatency() *latency {
	return &latency{apply: perf.NewHistogram(), commit: perf.NewHistogram(), ack: perf.NewHistogram()}
}

// Percentiles summarises one histogram in nanoseconds.
type Percentiles struct {
	Count int64 `json:"count"`
	P50   int64 `json:"p50_ns"`
	P99   int64 `json:"p99_ns"`
	P999  int64 `json:"p999_ns"`
	Max   int64 `json:"max_ns"`
}

// Latencies are the node's sampled latency percentiles since it opened.
type Latencies struct {
	Apply  Percentiles `json:"apply"`
	Commit Percentiles `json:"commit"`
	Ack    Percentiles `json:"ack"`
}

func summarize(h *perf.Histogram) Percentiles {
	return Percentiles{Count: h.Count(), P50: h.Quantile(0.5), P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max()}
}

// Latencies returns the sampled latency percentiles.
func (n *Node) Latencies() Latencies {
	l := n.lat
	l.mu.Lock()
	defer l.mu.Unlock()
	return Latencies{Apply: summarize(l.apply), Commit: summarize(l.commit), Ack: summarize(l.ack)}
}

func (n *Node) resetLatencies() {
	l := n.lat
	l.mu.Lock()
	l.apply.Reset()
	l.commit.Reset()
	l.ack.Reset()
	l.mu.Unlock()
}
