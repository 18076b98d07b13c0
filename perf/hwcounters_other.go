//go:build !linux

package perf

import (
	"fmt"
	"runtime"
)

// Counters is a running group of hardware counters; outside Linux it only
// carries the reason there are none.
type Counters struct{ result CounterResult }

// StartCounters reports that hardware counters need Linux perf_event_open.
func StartCounters() (*Counters, error) {
	reason := "hardware counters need Linux perf_event_open; this is " + runtime.GOOS
	return &Counters{result: CounterResult{Reason: reason}}, fmt.Errorf("%w: %s", ErrCountersUnsupported, reason)
}

// Stop returns the unsupported result.
func (c *Counters) Stop() CounterResult { return c.result }
