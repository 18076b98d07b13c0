package perf

import (
	"encoding/json"
	"errors"
)

// ErrCountersUnsupported is returned by StartCounters when the kernel or
// the CPU does not provide the hardware counters (no PMU in a virtual
// machine, perf_event_paranoid too strict, a non-Linux platform). The
// wrapped message says which.
var ErrCountersUnsupported = errors.New("perf: hardware counters unsupported")

// CounterResult holds the hardware counters of the calling OS thread over
// the region between StartCounters and Stop, counted in user space only
// (the engine's own work, not the kernel's work in its syscalls). When
// Supported is false the figures are absent, never zero: Reason says why,
// and the JSON form carries only supported and reason.
type CounterResult struct {
	Supported    bool
	Reason       string
	Cycles       uint64
	Instructions uint64
	CacheMisses  uint64 // last-level cache misses
	BranchMisses uint64
	// TimeEnabledNs and TimeRunningNs come from the kernel; when running is
	// shorter than enabled the counters were multiplexed with other users
	// of the PMU and the figures above are scaled estimates.
	TimeEnabledNs uint64
	TimeRunningNs uint64
}

// MarshalJSON writes the figures only when they were measured.
func (r CounterResult) MarshalJSON() ([]byte, error) {
	if !r.Supported {
		return json.Marshal(struct {
			Supported bool   `json:"supported"`
			Reason    string `json:"reason"`
		}{false, r.Reason})
	}
	return json.Marshal(struct {
		Supported     bool   `json:"supported"`
		Cycles        uint64 `json:"cycles"`
		Instructions  uint64 `json:"instructions"`
		CacheMisses   uint64 `json:"cache_misses"`
		BranchMisses  uint64 `json:"branch_misses"`
		TimeEnabledNs uint64 `json:"time_enabled_ns"`
		TimeRunningNs uint64 `json:"time_running_ns"`
	}{true, r.Cycles, r.Instructions, r.CacheMisses, r.BranchMisses, r.TimeEnabledNs, r.TimeRunningNs})
}

// CountersPerOp is a CounterResult divided by a number of operations.
type CountersPerOp struct {
	Supported         bool
	Reason            string
	Ops               int64
	CyclesPerOp       float64
	InstructionsPerOp float64
	CacheMissesPerOp  float64
	BranchMissesPerOp float64
	// IPC is instructions per cycle.
	IPC float64
}

// PerOp divides the counters by n operations. A result that is not
// supported, or n ≤ 0, gives an unsupported CountersPerOp with a reason.
func (r CounterResult) PerOp(n int64) CountersPerOp {
	if !r.Supported {
		return CountersPerOp{Reason: r.Reason, Ops: n}
	}
	if n <= 0 {
		return CountersPerOp{Reason: "no operations were measured", Ops: n}
	}
	p := CountersPerOp{
		Supported:         true,
		Ops:               n,
		CyclesPerOp:       float64(r.Cycles) / float64(n),
		InstructionsPerOp: float64(r.Instructions) / float64(n),
		CacheMissesPerOp:  float64(r.CacheMisses) / float64(n),
		BranchMissesPerOp: float64(r.BranchMisses) / float64(n),
	}
	if r.Cycles > 0 {
		p.IPC = float64(r.Instructions) / float64(r.Cycles)
	}
	return p
}

// MarshalJSON writes the figures only when they were measured.
func (p CountersPerOp) MarshalJSON() ([]byte, error) {
	if !p.Supported {
		return json.Marshal(struct {
			Supported bool   `json:"supported"`
			Reason    string `json:"reason"`
		}{false, p.Reason})
	}
	return json.Marshal(struct {
		Supported         bool    `json:"supported"`
		Ops               int64   `json:"ops"`
		CyclesPerOp       float64 `json:"cycles_per_op"`
		InstructionsPerOp float64 `json:"instructions_per_op"`
		CacheMissesPerOp  float64 `json:"cache_misses_per_op"`
		BranchMissesPerOp float64 `json:"branch_misses_per_op"`
		IPC               float64 `json:"ipc"`
	}{true, p.Ops, p.CyclesPerOp, p.InstructionsPerOp, p.CacheMissesPerOp, p.BranchMissesPerOp, p.IPC})
}
