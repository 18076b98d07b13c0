package perf

import (
	"fmt"
	"runtime"
	"sort"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/placement"
)

// EngineBenchOptions configures RunEngineBench.
type EngineBenchOptions struct {
	// Commands is the workload, parsed before anything is timed.
	Commands []engine.Command
	// Config sizes the engine; the zero value means GenConfig of the
	// number of S commands in Commands.
	Config engine.Config
	// Runs is the number of timed throughput runs (each on a fresh
	// engine); the result reports their median. Zero means 1.
	Runs int
	// NoLatency skips the latency pass.
	NoLatency bool
	// BeforeRun, if set, is called before timed throughput run i and
	// AfterRun after it, on the engine thread, just outside the apply
	// loop.
	BeforeRun, AfterRun func(i int)
	// Profile, if set, is started just before the first timed run's apply
	// loop and its stop function called just after the last one (see
	// StartProfiles). While profiling, the engines of all runs are
	// prepared before the first run and the naive ceiling is not run, so
	// the profile holds the engine's work and little else.
	Profile func() (stop func() error, err error)
	// Placement pins the engine thread (PinEngine/EngineCPU) and locks
	// memory (Mlock) for the whole benchmark. A refusal by the kernel is
	// reported in the result's Placement and the benchmark goes on
	// unplaced. Every arena is pre-faulted whatever Prefault says.
	Placement placement.Options
}

// EnginePlacement reports what RunEngineBench could do of the requested
// placement; the *_error fields hold the kernel's refusal, if any.
type EnginePlacement struct {
	EngineCPU    int    `json:"engine_cpu"` // -1: not requested
	Pinned       bool   `json:"pinned"`
	PinError     string `json:"pin_error,omitempty"`
	Mlock        bool   `json:"mlock"`
	MlockError   string `json:"mlock_error,omitempty"`
	Prefaulted   bool   `json:"prefaulted"`    // always: every arena is faulted in before its run
	NaiveSkipped bool   `json:"naive_skipped"` // the naive ceiling was not run (profiling)
}

// EngineBenchResult is the outcome of `cowbook bench engine`; its JSON field
// names are the --json contract.
type EngineBenchResult struct {
	Ops       int     `json:"ops"`
	Runs      int     `json:"runs"`
	Seconds   float64 `json:"seconds"` // median run
	OpsPerSec float64 `json:"ops_per_sec"`
	// RunOpsPerSec lists every run's throughput, in run order.
	RunOpsPerSec []float64 `json:"run_ops_per_sec"`
	// OpsPerCPUSec divides by the CPU time of the replaying thread (median
	// run) instead of wall time: on a shared machine it leaves out the
	// time other processes held the core. Peers in DESIGN.md §5 are
	// quoted in the same unit.
	OpsPerCPUSec float64 `json:"ops_per_cpu_sec"`
	// NsPerOp is the median run's mean cost of one command.
	NsPerOp float64 `json:"ns_per_op"`
	// Latency percentiles come from a separate pass that reads the clock
	// around every command (≈ 2 × 20 ns of clock reads included).
	P50Ns  int64 `json:"p50_ns"`
	P99Ns  int64 `json:"p99_ns"`
	P999Ns int64 `json:"p999_ns"`
	MaxNs  int64 `json:"max_ns"`
	// LatencyCurve is the latency pass's percentile curve (HDR-style),
	// drawn by `cowbook bench all`.
	LatencyCurve []CurvePoint `json:"latency_curve"`
	// Counters are the hardware counters of the engine thread over the
	// apply loops of all timed runs, per command; where the machine has
	// none, {"supported": false, "reason": …}.
	Counters CountersPerOp `json:"counters"`
	// Placement says what was pinned and locked, or why not.
	Placement EnginePlacement `json:"placement"`
	// ClockNs is the median cost of one clock-read pair, to subtract.
	ClockNs     int64   `json:"clock_ns"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	// FloorOpsPerSec is a replay loop that reads every command and does
	// nothing else, measured in the same process: the harness's own cost.
	FloorOpsPerSec float64 `json:"floor_ops_per_sec"`
	// NaiveOpsPerSec is the median throughput of an unchecked array book
	// (no validation, no events, ids as array indices) replaying the same
	// commands between the engine's runs: a ceiling, measured under the
	// same machine load. Zero when the workload does not suit it (more
	// than one symbol, or sparse ids). NaiveRatio = OpsPerSec /
	// NaiveOpsPerSec; NaiveTradesMatch says the naive book made the same
	// number of trades, i.e. did the same matching work.
	NaiveOpsPerSec float64 `json:"naive_ops_per_sec"`
	NaiveRatio     float64 `json:"naive_ratio"`
	// NaiveOpsPerCPUSec and NaiveRatioCPU are the same on CPU time, the
	// steadier comparison on a busy machine.
	NaiveOpsPerCPUSec float64 `json:"naive_ops_per_cpu_sec"`
	NaiveRatioCPU     float64 `json:"naive_ratio_cpu"`
	NaiveTradesMatch  bool    `json:"naive_trades_match"`
	Events            uint64  `json:"events"`
	Trades            uint64  `json:"trades"`
	TradedQty         uint64  `json:"traded_qty"`
	Rejects           uint64  `json:"rejects"`
	Cancels           uint64  `json:"cancels"`
	Replaces          uint64  `json:"replaces"`
	RestingOrders     int     `json:"resting_orders"`
	BidQty            int64   `json:"bid_qty"`
	AskQty            int64   `json:"ask_qty"`
	// StateHash is the engine's rolling event hash after the workload, in
	// hex: equal for equal workloads on every machine.
	StateHash     string `json:"state_hash"`
	ArenaChecksum string `json:"arena_checksum"`
	ArenaBytes    int    `json:"arena_bytes"`
}

// RunEngineBench replays the workload: Runs timed passes for throughput and
// allocations (no per-command clock reads), then one pass that times every
// command for the latency distribution. Every pass starts from a fresh,
// pre-faulted engine.
func RunEngineBench(opts EngineBenchOptions) (*EngineBenchResult, error) {
	if len(opts.Commands) == 0 {
		return nil, fmt.Errorf("perf: empty workload")
	}
	if opts.Runs <= 0 {
		opts.Runs = 1
	}
	cfg := opts.Config
	if cfg.MaxOrders == 0 && cfg.MaxSymbols == 0 {
		n := 0
		for i := range opts.Commands {
			if opts.Commands[i].Kind == engine.CmdDefineSymbol {
				n++
			}
		}
		cfg = GenConfig(n)
	}
	res := &EngineBenchResult{Ops: len(opts.Commands), Runs: opts.Runs}
	out := make([]engine.Event, 0, 1<<16)
	type run struct {
		d, cpu time.Duration
		allocs uint64
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	res.Placement = EnginePlacement{EngineCPU: -1, Prefaulted: true, NaiveSkipped: opts.Profile != nil}
	if opts.Placement.PinEngine {
		res.Placement.EngineCPU = opts.Placement.EngineCPU
		release, err := opts.Placement.PinEngineThread()
		if err != nil {
			res.Placement.PinError = err.Error()
		} else {
			res.Placement.Pinned = true
			defer func() { _ = release() }()
		}
	}
	if opts.Placement.Mlock {
		if err := opts.Placement.LockIfRequested(); err != nil {
			res.Placement.MlockError = err.Error()
		} else {
			res.Placement.Mlock = true
			defer func() { _ = placement.UnlockMemory() }()
		}
	}
	// While profiling, every run's engine is ready before the profile
	// starts, so that arena set-up is not in it.
	var ready []*engine.Engine
	defer func() {
		for _, e := range ready {
			if e != nil {
				e.Close()
			}
		}
	}()
	if opts.Profile != nil {
		for r := 0; r < opts.Runs; r++ {
			e, err := newPrefaulted(cfg)
			if err != nil {
				return nil, err
			}
			ready = append(ready, e)
		}
	}
	var stopProfile func() error
	var err error
	var runs []run
	var naive, naiveCPU []float64
	var naiveTrades uint64
	var last *engine.Engine
	var counts CounterResult
	for r := 0; r < opts.Runs; r++ {
		var e *engine.Engine
		if ready != nil {
			e, ready[r] = ready[r], nil
		} else if e, err = newPrefaulted(cfg); err != nil {
			return nil, err
		}
		if opts.Profile == nil {
			runtime.GC()
		}
		if opts.BeforeRun != nil {
			opts.BeforeRun(r)
		}
		if r == 0 && opts.Profile != nil {
			if stopProfile, err = opts.Profile(); err != nil {
				e.Close()
				return nil, err
			}
		}
		// Allocations are counted inside the counters and the profile,
		// which allocate when they start and stop.
		ctr, _ := StartCounters() // an error is also in the result's Reason
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0 := threadCPU()
		t0 := time.Now()
		for i := range opts.Commands {
			if out, err = e.Apply(uint64(i+1), &opts.Commands[i], out[:0]); err != nil {
				ctr.Stop()
				e.Close()
				if stopProfile != nil {
					_ = stopProfile()
				}
				return nil, err
			}
		}
		d := time.Since(t0)
		cpu := threadCPU() - c0
		runtime.ReadMemStats(&m1)
		counts = addCounters(counts, ctr.Stop(), r == 0)
		if r == opts.Runs-1 && stopProfile != nil {
			if err := stopProfile(); err != nil {
				e.Close()
				return nil, err
			}
		}
		if opts.AfterRun != nil {
			opts.AfterRun(r)
		}
		runs = append(runs, run{d, cpu, m1.Mallocs - m0.Mallocs})
		res.RunOpsPerSec = append(res.RunOpsPerSec, float64(len(opts.Commands))/d.Seconds())
		if opts.Profile == nil {
			c1 := threadCPU()
			if d, trades, ok := runNaive(opts.Commands); ok {
				naive = append(naive, float64(len(opts.Commands))/d.Seconds())
				if c := threadCPU() - c1; c > 0 {
					naiveCPU = append(naiveCPU, float64(len(opts.Commands))/c.Seconds())
				}
				naiveTrades = trades
			}
		}
		if last != nil {
			if last.EventHash() != e.EventHash() {
				e.Close()
				last.Close()
				return nil, fmt.Errorf("perf: runs disagree: event hash %x then %x", last.EventHash(), e.EventHash())
			}
			last.Close()
		}
		last = e
	}
	res.Counters = counts.PerOp(int64(opts.Runs) * int64(len(opts.Commands)))
	defer last.Close()
	sorted := append([]run(nil), runs...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].d < sorted[j].d })
	med := sorted[len(sorted)/2]
	res.Seconds = med.d.Seconds()
	res.OpsPerSec = float64(res.Ops) / res.Seconds
	res.NsPerOp = float64(med.d.Nanoseconds()) / float64(res.Ops)
	res.AllocsPerOp = float64(med.allocs) / float64(res.Ops)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].cpu < sorted[j].cpu })
	if c := sorted[len(sorted)/2].cpu; c > 0 {
		res.OpsPerCPUSec = float64(res.Ops) / c.Seconds()
	}

	st := last.Stats()
	res.Events, res.Trades, res.TradedQty, res.Rejects = st.Events, st.Trades, st.TradedQty, st.Rejects
	res.Cancels, res.Replaces = st.Cancels, st.Replaces
	res.RestingOrders, res.BidQty, res.AskQty = st.RestingOrders, int64(st.BidQty), int64(st.AskQty)
	res.StateHash = fmt.Sprintf("%016x", last.EventHash())
	res.ArenaChecksum = fmt.Sprintf("%016x", last.Checksum())
	res.ArenaBytes = len(last.Arena())
	res.FloorOpsPerSec = floor(opts.Commands)
	if len(naive) > 0 {
		sort.Float64s(naive)
		res.NaiveOpsPerSec = naive[len(naive)/2]
		res.NaiveRatio = res.OpsPerSec / res.NaiveOpsPerSec
		res.NaiveTradesMatch = naiveTrades == st.Trades
	}
	if len(naiveCPU) > 0 && res.OpsPerCPUSec > 0 {
		sort.Float64s(naiveCPU)
		res.NaiveOpsPerCPUSec = naiveCPU[len(naiveCPU)/2]
		res.NaiveRatioCPU = res.OpsPerCPUSec / res.NaiveOpsPerCPUSec
	}

	if !opts.NoLatency {
		if err := latencyPass(cfg, opts.Commands, out, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func newPrefaulted(cfg engine.Config) (*engine.Engine, error) {
	e, err := engine.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := e.Prefault(); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

var floorSink uint64

// floor is the replay loop without the engine: it reads the fields Apply
// dispatches on, so the ratio to it shows what the engine itself costs.
func floor(cmds []engine.Command) float64 {
	t0 := time.Now()
	var x uint64
	for i := range cmds {
		c := &cmds[i]
		x += uint64(c.Kind) + uint64(c.ID) + uint64(c.Qty)
	}
	d := time.Since(t0)
	floorSink = x
	return float64(len(cmds)) / d.Seconds()
}

func latencyPass(cfg engine.Config, cmds []engine.Command, out []engine.Event, res *EngineBenchResult) error {
	e, err := newPrefaulted(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	h := NewHistogram()
	clock := NewHistogram()
	for i := 0; i < 100_000; i++ {
		t0 := time.Now()
		clock.Record(int64(time.Since(t0)))
	}
	for i := range cmds {
		t0 := time.Now()
		out, err = e.Apply(uint64(i+1), &cmds[i], out[:0])
		h.Record(int64(time.Since(t0)))
		if err != nil {
			return err
		}
	}
	if fmt.Sprintf("%016x", e.EventHash()) != res.StateHash {
		return fmt.Errorf("perf: latency pass diverged from the throughput runs")
	}
	res.P50Ns, res.P99Ns, res.P999Ns, res.MaxNs = h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999), h.Max()
	res.LatencyCurve = h.Curve()
	res.ClockNs = clock.Quantile(0.5)
	return nil
}

// runNaive replays cmds through the naive array book, if they suit it: one
// symbol defined first, ids below 8 per command.
func runNaive(cmds []engine.Command) (time.Duration, uint64, bool) {
	if len(cmds) == 0 || cmds[0].Kind != engine.CmdDefineSymbol {
		return 0, 0, false
	}
	s := cmds[0]
	maxID := 0
	for i := 1; i < len(cmds); i++ {
		c := &cmds[i]
		if c.Kind == engine.CmdDefineSymbol || c.Symbol != s.Symbol {
			return 0, 0, false
		}
		if int(c.ID) > maxID {
			maxID = int(c.ID)
		}
	}
	if maxID > 8*len(cmds) || s.Tick <= 0 || s.BandMax < s.BandMin {
		return 0, 0, false
	}
	b := newNaiveBook(s.BandMin, s.BandMax, s.Tick, maxID)
	t0 := time.Now()
	for i := 1; i < len(cmds); i++ {
		b.apply(&cmds[i])
	}
	return time.Since(t0), b.trades, true
}

// addCounters adds run r's counters to the total so far; the total is
// unsupported, with the first reason, as soon as one run's counters are.
func addCounters(total, r CounterResult, first bool) CounterResult {
	if first {
		return r
	}
	if !total.Supported {
		return total
	}
	if !r.Supported {
		return r
	}
	total.Cycles += r.Cycles
	total.Instructions += r.Instructions
	total.CacheMisses += r.CacheMisses
	total.BranchMisses += r.BranchMisses
	total.TimeEnabledNs += r.TimeEnabledNs
	total.TimeRunningNs += r.TimeRunningNs
	return total
}
