package perf

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/placement"
	"golang.org/x/sys/unix"
)

// SnapBenchOptions configures SnapBench.
type SnapBenchOptions struct {
	// Orders sizes the arena like a book of this many resting orders.
	Orders int
	// Synthetic replaces the engine with a synthetic arena of Orders ×
	// BytesPerOrder bytes and a mutator writing random 64-byte records
	// over all of it (the worst case for copy-on-write).
	Synthetic bool
	// BytesPerOrder sizes the synthetic arena; zero means 128.
	BytesPerOrder int
	// Workload selects what the engine thread applies to the book during
	// the measurements (ignored with Synthetic): WorkloadStandard (the
	// zero value), WorkloadChurn, or WorkloadBoth (every phase with the
	// standard workload, then one more fork phase with the churn).
	Workload string
	// StandardOps is the length of one pass of the standard workload;
	// zero means DefaultGenOps (the standard workload itself).
	StandardOps int
	// ShareIndex leaves the engine's order-id index shared copy-on-write
	// with the child like the rest of the arena, instead of passing it as
	// hot spans (cow.Meta.Hot) as a node does: the comparison that shows
	// what detaching it is worth.
	ShareIndex bool
	// Snapshots is how many snapshots each phase takes; at least 20. The
	// memory is sampled on the even ones, the throughput counted on the odd
	// ones (see phase).
	Snapshots int
	// Helper is how the snapshotter starts its helper (HelperArgs,
	// HelperEnv, HelperPath); the helper writes into the directory it was
	// given.
	Helper cow.Options
	// Placement pins the mutator (as the engine thread) and the helper (as
	// the writer) and locks memory, as the node would.
	Placement placement.Options
	// Format names the snapshot file format the helper writes, for the
	// record.
	Format string
	// Log, when set, receives one line per phase.
	Log func(format string, args ...any)
}

// Workloads of SnapBenchOptions.Workload.
const (
	// WorkloadStandard streams the standard workload (Generate's
	// defaults, seed 1) on a symbol of its own beside the book of Orders
	// resting orders: the measured thing is the engine applying its
	// ordinary flow while its arena holds a large book.
	WorkloadStandard = "standard"
	// WorkloadChurn churns the large book itself: cancels of orders chosen
	// uniformly among all of them, new passive orders and IOCs, so that
	// almost every command dirties a page not dirtied since the fork (the
	// worst case for copy-on-write).
	WorkloadChurn = "churn"
	// WorkloadBoth measures the standard workload and adds the churn's
	// throughput during a snapshot as the churn_* fields.
	WorkloadBoth = "both"
)

// SnapBenchResult is the JSON contract of `cowbook bench snapshot --json`.
type SnapBenchResult struct {
	Orders     int    `json:"orders"`
	ArenaBytes int64  `json:"arena_bytes"`
	Snapshots  int    `json:"snapshots"`
	Workload   string `json:"workload"`
	// WorkloadName names the workload of the main figures: standard,
	// churn or synthetic.
	WorkloadName string `json:"workload_name"`
	Format       string `json:"format"`
	// IndexShared is true when the order-id index was left shared with the
	// child (--share-index) rather than detached as hot spans.
	IndexShared bool `json:"index_shared"`

	// The standard workload: commands in one pass (its final cancels
	// included), passes begun during the run, the most orders resting on
	// its symbol.
	StandardCommands   int    `json:"standard_commands_per_pass,omitempty"`
	StandardPasses     uint64 `json:"standard_passes,omitempty"`
	StandardPeakOrders int    `json:"standard_peak_resting_orders,omitempty"`
	// OrderIndexBytes is the engine's order-id index in use at the end of
	// the run (8-byte entries and 1-byte tags): hashed ids spread every
	// insert and delete over all of it, so a few thousand new orders or
	// cancels write to every page of it, whatever the workload. Unless
	// IndexShared, each snapshot passes it as hot spans (cow.Meta.Hot) and
	// HotMs is the median time the node's collapser took to give the
	// engine pages of its own there.
	OrderIndexBytes int64   `json:"order_index_bytes,omitempty"`
	HotMs           float64 `json:"hot_privatize_ms,omitempty"`

	// Fork mode with huge-page restoration (the configuration a node runs).
	ForkPauseP50Us float64 `json:"fork_pause_p50_us"`
	ForkPauseP99Us float64 `json:"fork_pause_p99_us"`
	ForkPauseMaxUs float64 `json:"fork_pause_max_us"`
	SnapshotMs     float64 `json:"snapshot_ms"`
	FileBytes      int64   `json:"file_bytes"`
	CowExtraBytes  int64   `json:"cow_extra_bytes"`
	CollapseMs     float64 `json:"collapse_ms"`

	// Stop-the-world mode.
	ForkPauseCurve []CurvePoint `json:"fork_pause_curve"`

	StwPauseP50Us float64      `json:"stw_pause_p50_us"`
	StwPauseMaxUs float64      `json:"stw_pause_max_us"`
	StwPauseCurve []CurvePoint `json:"stw_pause_curve"`
	StwSnapshotMs float64      `json:"stw_snapshot_ms"`
	PauseRatio    float64      `json:"pause_ratio"`

	// The mutator standing in for the engine thread.
	EngineOpsPerSecDuringSnapshot float64 `json:"engine_ops_per_sec_during_snapshot"`
	EngineOpsPerSecIdle           float64 `json:"engine_ops_per_sec_idle"`
	EngineOpsPerSecWhileWriting   float64 `json:"engine_ops_per_sec_while_writing"`
	EngineOpsPerSecNoRestore      float64 `json:"engine_ops_per_sec_during_snapshot_no_restore"`
	EngineOpsPerSecIdleNoRestore  float64 `json:"engine_ops_per_sec_idle_no_restore"`
	ThroughputRatio               float64 `json:"throughput_ratio"`
	// ThroughputRatio above is the product of two factors measured on the
	// mutator's thread (getrusage): CPUShareRatio, the share of wall time
	// the thread ran during snapshots over the same share when idle (below
	// 1: other threads took its CPU: the helper, the collapse, other
	// processes), and CPUEfficiencyRatio, its commands per CPU-second
	// during snapshots over the same when idle (below 1: each command
	// costs more CPU, mostly copy-on-write faults, counted in
	// EngineFaultsPerSnapshot).
	EngineCPUShareDuringSnapshot float64 `json:"engine_cpu_share_during_snapshot"`
	EngineCPUShareIdle           float64 `json:"engine_cpu_share_idle"`
	EngineOpsPerCPUSecDuring     float64 `json:"engine_ops_per_cpu_sec_during_snapshot"`
	EngineOpsPerCPUSecIdle       float64 `json:"engine_ops_per_cpu_sec_idle"`
	CPUShareRatio                float64 `json:"cpu_share_ratio"`
	CPUEfficiencyRatio           float64 `json:"cpu_efficiency_ratio"`
	EngineFaultsPerSnapshot      float64 `json:"engine_minor_faults_per_snapshot"`
	EngineFaultsPerIdleWindow    float64 `json:"engine_minor_faults_per_idle_window"`
	// ThroughputTimeline is the mutator's rate in 10 ms steps around the
	// last snapshot of the restoring fork phase; TimelineSpans mark that
	// snapshot (fork to file durable, restoration included).
	ThroughputTimeline []TimelinePoint `json:"throughput_timeline,omitempty"`
	TimelineSpans      []TimelineSpan  `json:"timeline_spans,omitempty"`

	// Huge pages: the first fork of an intact THP arena, then forks right
	// after a snapshot under mutation, without and with MADV_COLLAPSE.
	ForkPauseFreshUs            float64 `json:"fork_pause_fresh_us"`
	ForkPauseNoRestoreP50Us     float64 `json:"fork_pause_after_snapshot_no_restore_p50_us"`
	ForkPauseRestoredP50Us      float64 `json:"fork_pause_after_snapshot_restored_p50_us"`
	AnonHugeBytesFresh          int64   `json:"anon_huge_bytes_fresh"`
	AnonHugeBytesAfterNoRestore int64   `json:"anon_huge_bytes_after_no_restore"`
	AnonHugeBytesAfterRestore   int64   `json:"anon_huge_bytes_after_restore"`

	// The churn with WorkloadBoth: one more phase of fork snapshots with
	// restoration, the churn applied to the large book instead.
	ChurnOpsPerSecDuringSnapshot float64 `json:"churn_engine_ops_per_sec_during_snapshot,omitempty"`
	ChurnOpsPerSecIdle           float64 `json:"churn_engine_ops_per_sec_idle,omitempty"`
	ChurnThroughputRatio         float64 `json:"churn_throughput_ratio,omitempty"`
	ChurnCowExtraBytes           int64   `json:"churn_cow_extra_bytes,omitempty"`
	ChurnCPUShareRatio           float64 `json:"churn_cpu_share_ratio,omitempty"`
	ChurnCPUEfficiencyRatio      float64 `json:"churn_cpu_efficiency_ratio,omitempty"`
	ChurnFaultsPerSnapshot       float64 `json:"churn_engine_minor_faults_per_snapshot,omitempty"`

	// Floors measured in the same run.
	MemcpyGBPerSec float64 `json:"memcpy_gb_per_sec"`
	Busy           string  `json:"note"`
}

const hugePage = 2 << 20

// SnapBench measures snapshots of the engine's arena, holding a book of
// o.Orders resting orders, while a goroutine locked to its thread applies
// commands to the engine (o.Workload: the standard workload on a symbol of
// its own, or a churn of the large book) and takes each snapshot between
// two of them, as the node's engine thread does (or, with o.Synthetic, of
// a synthetic arena written at random). Phases, each with a fresh helper:
// fork snapshots without huge-page restoration; fork snapshots with it;
// stop-the-world snapshots; with WorkloadBoth, fork snapshots with
// restoration under the churn.
func SnapBench(o SnapBenchOptions) (*SnapBenchResult, error) {
	if len(o.Helper.HelperArgs) == 0 {
		return nil, ErrNoHelper
	}
	if o.Orders <= 0 {
		o.Orders = 1_000_000
	}
	if o.BytesPerOrder <= 0 {
		o.BytesPerOrder = 128
	}
	if o.Snapshots < 20 {
		o.Snapshots = 20
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Workload == "" {
		o.Workload = WorkloadStandard
	}
	switch o.Workload {
	case WorkloadStandard, WorkloadChurn, WorkloadBoth:
	default:
		return nil, fmt.Errorf("%w: %q (want %s, %s or %s)", ErrWorkload, o.Workload, WorkloadStandard, WorkloadChurn, WorkloadBoth)
	}
	var (
		arena    []byte
		workload string
		name     string
		step     func() error
		meta     func() cow.Meta
		book     *snapBook
	)
	if o.Synthetic {
		size := (o.Orders*o.BytesPerOrder + hugePage - 1) / hugePage * hugePage
		a, release, err := allocTHPArena(size)
		if err != nil {
			return nil, err
		}
		defer release()
		arena = a
		// Fault every page in as the engine's first touch would.
		for i := 0; i < len(arena); i += 4096 {
			arena[i] = 1
		}
		workload = fmt.Sprintf("synthetic: random %d-byte record writes over the arena", recordSize)
		name = "synthetic"
		rng := rand.New(rand.NewPCG(7, 11))
		slots := len(arena) / recordSize
		var rec [recordSize]byte
		step = func() error {
			i := rng.IntN(slots) * recordSize
			v := rng.Uint64()
			for k := 0; k < recordSize; k += 8 {
				rec[k] = byte(v >> k)
			}
			copy(arena[i:i+recordSize], rec[:])
			return nil
		}
		var seq uint64
		meta = func() cow.Meta { seq++; return cow.Meta{Seq: seq} }
	} else {
		var std *stdStream
		if o.Workload != WorkloadChurn {
			o.Log("generating the standard workload")
			s, err := newStdStream(GenOptions{Ops: o.StandardOps, Seed: 1})
			if err != nil {
				return nil, err
			}
			std = s
		}
		o.Log("building a book of %d resting orders through the engine", o.Orders)
		b, err := newSnapBook(o.Orders, std)
		if err != nil {
			return nil, err
		}
		defer b.close()
		book = b
		arena = b.e.Arena()
		if std != nil {
			name = WorkloadStandard
			workload = fmt.Sprintf("engine: book of `orders` resting orders on %s; the standard workload (cowbook gen --seed 1 --ops %d, then cancels of its %d orders left resting) streamed on %s, ids shifted each pass",
				snapSymbol, std.n-std.drain, std.drain, stdSymbol)
			step = b.stdStep
		} else {
			name = WorkloadChurn
			workload = churnWorkload
			step = b.step
		}
		meta = func() cow.Meta {
			m := cow.Meta{Seq: b.e.LastSeq(), LayoutVersion: engine.LayoutVersion}
			if !o.ShareIndex {
				for _, s := range b.e.IndexSpans(nil) {
					m.Hot = append(m.Hot, cow.Span{Off: s.Off, Len: s.Len})
				}
			}
			return m
		}
	}
	size := len(arena)
	res := &SnapBenchResult{
		Orders: o.Orders, ArenaBytes: int64(size), Snapshots: o.Snapshots, Format: o.Format, IndexShared: o.ShareIndex,
		Workload: workload, WorkloadName: name,
		Busy: loadNote(),
	}
	res.MemcpyGBPerSec = memcpyFloor(arena)
	res.AnonHugeBytesFresh = anonHugeBytes()

	if err := o.Placement.LockIfRequested(); err != nil {
		return nil, err
	}
	m, err := newMutator(arena, o.Placement, step, meta)
	if err != nil {
		return nil, err
	}
	defer m.stop()
	o.Log("idle mutator: %.2fM ops/s; memcpy floor %.1f GB/s; THP %d MiB of %d", m.idleRate(time.Second)/1e6, res.MemcpyGBPerSec, res.AnonHugeBytesFresh>>20, size>>20)

	// Phase 1: no restoration. The first fork sees intact huge pages.
	p1, err := m.phase(o, cow.ModeFork, false, false)
	if err != nil {
		return nil, err
	}
	res.ForkPauseFreshUs = snapUs(p1.pauses[0])
	res.ForkPauseNoRestoreP50Us = snapUs(medianDur(p1.pauses[1:]))
	res.AnonHugeBytesAfterNoRestore = anonHugeBytes()
	o.Log("fork, no restore: fresh %.0f µs, then p50 %.0f µs; THP left %d MiB", res.ForkPauseFreshUs, res.ForkPauseNoRestoreP50Us, res.AnonHugeBytesAfterNoRestore>>20)

	// Phase 2: restoration on, the node's configuration. Collapse first so
	// the phase starts from intact huge pages, as a node does after start.
	_ = unix.Madvise(arena, unix.MADV_COLLAPSE)
	p2, err := m.phase(o, cow.ModeFork, true, true)
	if err != nil {
		return nil, err
	}
	h := NewHistogram()
	for _, p := range p2.pauses {
		h.Record(p.Nanoseconds())
	}
	res.ForkPauseP50Us = float64(h.Quantile(0.5)) / 1e3
	res.ForkPauseP99Us = float64(h.Quantile(0.99)) / 1e3
	res.ForkPauseMaxUs = float64(h.Max()) / 1e3
	res.ForkPauseCurve = h.Curve()
	res.ForkPauseRestoredP50Us = snapUs(medianDur(p2.pauses[1:]))
	res.SnapshotMs = snapMs(medianDur(p2.elapsed))
	res.CollapseMs = snapMs(medianDur(p2.collapse))
	res.HotMs = snapMs(medianDur(p2.hot))
	res.FileBytes = p2.fileBytes
	res.CowExtraBytes = p2.extraBytes
	res.EngineOpsPerSecDuringSnapshot = p2.opsDuring
	res.EngineOpsPerSecIdle = p2.opsIdle
	res.EngineOpsPerSecWhileWriting = p2.opsWriting
	res.EngineCPUShareDuringSnapshot, res.EngineCPUShareIdle = p2.during.cpuShare(), p2.idle.cpuShare()
	res.EngineOpsPerCPUSecDuring, res.EngineOpsPerCPUSecIdle = p2.during.opsPerCPUSec(), p2.idle.opsPerCPUSec()
	res.CPUShareRatio = safeRatio(res.EngineCPUShareDuringSnapshot, res.EngineCPUShareIdle)
	res.CPUEfficiencyRatio = safeRatio(res.EngineOpsPerCPUSecDuring, res.EngineOpsPerCPUSecIdle)
	res.EngineFaultsPerSnapshot = float64(p2.during.faults) / float64(max(p2.counted, 1))
	res.EngineFaultsPerIdleWindow = float64(p2.idle.faults) / float64(max(p2.counted, 1))
	res.EngineOpsPerSecNoRestore = p1.opsDuring
	res.EngineOpsPerSecIdleNoRestore = p1.opsIdle
	if tl := p2.timeline; tl != nil {
		res.ThroughputTimeline, res.TimelineSpans = tl.points, tl.spans
	}
	res.AnonHugeBytesAfterRestore = anonHugeBytes()
	o.Log("fork, restore: pause p50 %.0f µs p99 %.0f µs max %.0f µs; snapshot %.0f ms; collapse %.0f ms; extra %d MiB; THP %d MiB; mutator %.2fM ops/s during, %.2fM idle",
		res.ForkPauseP50Us, res.ForkPauseP99Us, res.ForkPauseMaxUs, res.SnapshotMs, res.CollapseMs, res.CowExtraBytes>>20, res.AnonHugeBytesAfterRestore>>20,
		res.EngineOpsPerSecDuringSnapshot/1e6, res.EngineOpsPerSecIdle/1e6)
	o.Log("mutator thread: CPU share %.2f during, %.2f idle (ratio %.2f); %.2fM ops per CPU-second during, %.2fM idle (ratio %.2f); %.0f minor faults per snapshot, %.0f per idle window",
		res.EngineCPUShareDuringSnapshot, res.EngineCPUShareIdle, res.CPUShareRatio, res.EngineOpsPerCPUSecDuring/1e6, res.EngineOpsPerCPUSecIdle/1e6, res.CPUEfficiencyRatio,
		res.EngineFaultsPerSnapshot, res.EngineFaultsPerIdleWindow)
	o.Log("mutator while the helper writes (before collapse): %.2fM ops/s; without restoration: %.2fM ops/s during, %.2fM idle (split pages)",
		res.EngineOpsPerSecWhileWriting/1e6, res.EngineOpsPerSecNoRestore/1e6, res.EngineOpsPerSecIdleNoRestore/1e6)

	p3, err := m.phase(o, cow.ModeStopTheWorld, false, false)
	if err != nil {
		return nil, err
	}
	hs := NewHistogram()
	for _, p := range p3.pauses {
		hs.Record(p.Nanoseconds())
	}
	res.StwPauseCurve = hs.Curve()
	res.StwPauseP50Us = snapUs(medianDur(p3.pauses))
	res.StwPauseMaxUs = snapUs(maxDur(p3.pauses))
	res.StwSnapshotMs = snapMs(medianDur(p3.elapsed))
	o.Log("stop-the-world: pause p50 %.0f µs; snapshot %.0f ms", res.StwPauseP50Us, res.StwSnapshotMs)

	if o.Workload == WorkloadBoth && book != nil {
		_ = unix.Madvise(arena, unix.MADV_COLLAPSE)
		m.do(func() { m.step = book.step })
		p4, err := m.phase(o, cow.ModeFork, true, false)
		if err != nil {
			return nil, err
		}
		res.ChurnOpsPerSecDuringSnapshot, res.ChurnOpsPerSecIdle = p4.opsDuring, p4.opsIdle
		res.ChurnCowExtraBytes = p4.extraBytes
		res.ChurnThroughputRatio = safeRatio(p4.opsDuring, p4.opsIdle)
		res.ChurnCPUShareRatio = safeRatio(p4.during.cpuShare(), p4.idle.cpuShare())
		res.ChurnCPUEfficiencyRatio = safeRatio(p4.during.opsPerCPUSec(), p4.idle.opsPerCPUSec())
		res.ChurnFaultsPerSnapshot = float64(p4.during.faults) / float64(max(p4.counted, 1))
		o.Log("churn: mutator %.2fM ops/s during, %.2fM idle (ratio %.2f = CPU share %.2f × per-CPU-second %.2f); %.0f minor faults per snapshot; extra %d MiB",
			res.ChurnOpsPerSecDuringSnapshot/1e6, res.ChurnOpsPerSecIdle/1e6, res.ChurnThroughputRatio, res.ChurnCPUShareRatio, res.ChurnCPUEfficiencyRatio,
			res.ChurnFaultsPerSnapshot, res.ChurnCowExtraBytes>>20)
	}
	var merr error
	m.do(func() { merr = m.err })
	if merr != nil {
		return nil, merr
	}
	if book != nil {
		m.do(func() { res.OrderIndexBytes = int64(book.e.Stats().IndexSize) * 9 })
	}
	if book != nil && book.std != nil {
		var passes uint64
		m.do(func() { passes = book.std.pass + 1 })
		res.StandardCommands, res.StandardPasses, res.StandardPeakOrders = book.std.n, passes, book.std.peak
	}

	if res.ForkPauseP50Us > 0 {
		res.PauseRatio = res.StwPauseP50Us / res.ForkPauseP50Us
	}
	if res.EngineOpsPerSecIdle > 0 {
		res.ThroughputRatio = res.EngineOpsPerSecDuringSnapshot / res.EngineOpsPerSecIdle
	}
	return res, nil
}

const churnWorkload = "engine: book of `orders` resting orders; churn of 45% new passive, 45% cancels of random live orders, 10% IOC taking the top level"

const recordSize = 64

// mutator stands in for the engine thread: one goroutine locked to its OS
// thread that writes random records into the arena and, when asked, takes a
// snapshot between two writes, as the engine does between two commands.
type mutator struct {
	arena []byte
	step  func() error    // one engine command (or synthetic write)
	meta  func() cow.Meta // the state's Meta, on the mutator's thread
	err   error           // the first step error; the mutator stops on it
	ops   atomic.Int64
	// The thread's CPU time (ns) and minor page faults, published with ops
	// after each batch of steps: they split a throughput loss into CPU
	// taken by other threads and CPU spent per command (copy-on-write
	// faults are charged to the faulting thread).
	cpu, faults atomic.Int64
	req         chan func() // run on the mutator's thread between two writes
	quit        chan struct{}
	wg          sync.WaitGroup
}

func newMutator(arena []byte, pl placement.Options, step func() error, meta func() cow.Meta) (*mutator, error) {
	m := &mutator{arena: arena, step: step, meta: meta, req: make(chan func()), quit: make(chan struct{})}
	started := make(chan error)
	m.wg.Add(1)
	go m.run(pl, started)
	if err := <-started; err != nil {
		m.wg.Wait()
		return nil, err
	}
	return m, nil
}

func (m *mutator) run(pl placement.Options, started chan<- error) {
	defer m.wg.Done()
	runtime.LockOSThread() // never unlocked: a pinned thread dies with the goroutine
	if _, err := pl.PinEngineThread(); err != nil {
		started <- err
		return
	}
	started <- nil
	for {
		if m.err == nil {
			for range 256 {
				if err := m.step(); err != nil {
					m.err = err
					break
				}
			}
			m.ops.Add(256)
			var ru unix.Rusage
			if unix.Getrusage(unix.RUSAGE_THREAD, &ru) == nil {
				m.cpu.Store(ru.Utime.Nano() + ru.Stime.Nano())
				m.faults.Store(ru.Minflt)
			}
		}
		select {
		case f := <-m.req:
			f()
		case <-m.quit:
			return
		default:
		}
	}
}

// do runs f on the mutator's thread and waits for it.
func (m *mutator) do(f func()) {
	done := make(chan struct{})
	m.req <- func() { f(); close(done) }
	<-done
}

func (m *mutator) stop() {
	close(m.quit)
	m.wg.Wait()
}

// mutatorCount is a reading of the mutator's counters.
type mutatorCount struct {
	ops, cpu, faults int64
	t                time.Time
}

func (m *mutator) count() mutatorCount {
	return mutatorCount{ops: m.ops.Load(), cpu: m.cpu.Load(), faults: m.faults.Load(), t: time.Now()}
}

// span accumulates the mutator's counters over several windows.
type span struct {
	ops, cpu, faults int64
	wall             time.Duration
}

func (s *span) add(from, to mutatorCount) {
	s.ops += to.ops - from.ops
	s.cpu += to.cpu - from.cpu
	s.faults += to.faults - from.faults
	s.wall += to.t.Sub(from.t)
}

func (s *span) opsPerCPUSec() float64 {
	if s.cpu <= 0 {
		return 0
	}
	return float64(s.ops) / (float64(s.cpu) / 1e9)
}

// cpuShare is the share of wall-clock time the mutator's thread ran.
func (s *span) cpuShare() float64 {
	if s.wall <= 0 {
		return 0
	}
	return float64(s.cpu) / float64(s.wall.Nanoseconds())
}

func (m *mutator) idleRate(d time.Duration) float64 {
	n0, t0 := m.ops.Load(), time.Now()
	time.Sleep(d)
	return float64(m.ops.Load()-n0) / time.Since(t0).Seconds()
}

// TimelinePoint is the rate over the step ending TMs after the start of a
// timeline (docs/report.md).
type TimelinePoint struct {
	TMs       float64 `json:"t_ms"`
	OpsPerSec float64 `json:"ops_per_sec"`
}

// TimelineSpan is an interval to mark on a timeline.
type TimelineSpan struct {
	StartMs float64 `json:"start_ms"`
	EndMs   float64 `json:"end_ms"`
	Label   string  `json:"label"`
}

// timelineStep is the sampling step of a throughput timeline: long enough
// to hold thousands of the mutator's commands, short enough to show a
// millisecond-scale pause as a dip.
const timelineStep = 10 * time.Millisecond

// timeline samples the mutator's command count into rates. A nil timeline
// records nothing.
type timeline struct {
	start, last time.Time
	lastOps     int64
	points      []TimelinePoint
	spans       []TimelineSpan
}

func (m *mutator) newTimeline() *timeline {
	now := time.Now()
	return &timeline{start: now, last: now, lastOps: m.ops.Load()}
}

// sample adds a point once a step has passed since the previous one.
func (tl *timeline) sample(m *mutator) {
	if tl == nil {
		return
	}
	now := time.Now()
	if d := now.Sub(tl.last); d >= timelineStep {
		n := m.ops.Load()
		tl.points = append(tl.points, TimelinePoint{TMs: snapMs(now.Sub(tl.start)), OpsPerSec: float64(n-tl.lastOps) / d.Seconds()})
		tl.last, tl.lastOps = now, n
	}
}

// run samples for d, and on until it holds at least half the points d
// spans: on a loaded machine the sampling goroutine can be kept off the
// CPU for most of d, which would leave the timeline nothing to show.
func (tl *timeline) run(m *mutator, d time.Duration) {
	want := len(tl.points) + int(d/timelineStep)/2
	for end := time.Now().Add(d); time.Now().Before(end) || len(tl.points) < want; {
		time.Sleep(timelineStep / 5)
		tl.sample(m)
	}
}

func (tl *timeline) span(from, to time.Time, label string) {
	if tl != nil {
		tl.spans = append(tl.spans, TimelineSpan{StartMs: snapMs(from.Sub(tl.start)), EndMs: snapMs(to.Sub(tl.start)), Label: label})
	}
}

type phaseResult struct {
	timeline                       *timeline // around the last snapshot, when asked
	pauses, elapsed, collapse, hot []time.Duration
	fileBytes, extraBytes          int64
	opsDuring, opsIdle             float64
	opsWriting                     float64 // from the fork until the helper published, before any collapse
	during, idle                   span
	counted                        int // snapshots whose throughput was counted
}

// idleWindow is how long the mutator runs alone after a snapshot whose
// throughput is not counted: a pause between the snapshots.
const idleWindow = 100 * time.Millisecond

// phase takes o.Snapshots snapshots back to back with a fresh Snapshotter.
// With record, the mutator's throughput is sampled from 200 ms before the
// last snapshot to 300 ms after it.
//
// Memory and throughput are measured on alternate snapshots: the memory
// on even ones, by reading the node's and the child's smaps_rollup every
// 2 ms, and the mutator's throughput on odd ones. Each read walks the
// process's page tables (≈ 1.4 ms at 1M orders), so sampling both
// processes every 2 ms keeps one of the machine's two CPUs busy and would
// charge that CPU to the snapshot in the throughput figures.
func (m *mutator) phase(o SnapBenchOptions, mode cow.Mode, restore, record bool) (*phaseResult, error) {
	opts := o.Helper
	opts.Mode = mode
	opts.RestoreHugePages = restore
	opts.PinHelper, opts.HelperCPU = o.Placement.PinWriter, o.Placement.WriterCPU
	if mode == cow.ModeStopTheWorld {
		opts.ArenaSize = len(m.arena)
	}
	s, err := cow.Start(opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	for !s.Ready() {
		time.Sleep(time.Millisecond)
	}
	pr := &phaseResult{}
	var during, idle, writing time.Duration
	var opsDuring, opsIdle, opsWriting int64
	for i := range o.Snapshots {
		var tl *timeline
		if record && i == o.Snapshots-1 {
			tl = m.newTimeline()
			tl.run(m, 200*time.Millisecond)
			pr.timeline = tl
		}
		sampleMem := i%2 == 0 && i != o.Snapshots-1
		var pssBefore int64
		if sampleMem {
			pssBefore = pss(os.Getpid())
		}
		var tk cow.Ticket
		var serr error
		c0 := m.count()
		n0, t0 := c0.ops, c0.t
		// Sequence numbers keep rising across phases, as a node's do, so
		// the helper's retention keeps the newest files.
		m.do(func() {
			if serr = m.err; serr == nil {
				tk, serr = s.Snapshot(m.arena, m.meta())
			}
		})
		if serr != nil {
			return nil, serr
		}
		// Sample the memory the snapshot costs while it runs: the node's
		// and the child's proportional set sizes.
		var peak int64
		var r cow.Result
		var tWritten time.Time // when the helper reported the file published
		var nWritten int64
	wait:
		for {
			select {
			case r = <-s.Results():
				break wait
			case <-time.After(2 * time.Millisecond):
				tl.sample(m)
				if p := s.Progress(); tWritten.IsZero() && p.ID == tk.ID && p.State != cow.StateReceiving {
					tWritten, nWritten = time.Now(), m.ops.Load()
				}
				if sampleMem && tk.ChildPid != 0 {
					if v := pss(os.Getpid()) + pss(tk.ChildPid) - pssBefore; v > peak {
						peak = v
					}
				}
			}
		}
		if tWritten.IsZero() {
			tWritten, nWritten = time.Now(), m.ops.Load()
		}
		c1 := m.count()
		if !sampleMem {
			writing += tWritten.Sub(t0)
			opsWriting += nWritten - n0
			during += c1.t.Sub(t0) // collapse included: the mutator runs during it too
			opsDuring += c1.ops - n0
			pr.during.add(c0, c1)
			pr.counted++
		}
		// The fork pause (under a millisecond) is reported as figures; as a
		// span it would be invisible at this scale and overprint this one.
		tl.span(t0, time.Now(), "snapshot")
		if tl != nil {
			tl.run(m, 300*time.Millisecond)
		}
		// An idle window after each counted snapshot, as long as the
		// snapshot: on a shared machine the load drifts within seconds,
		// so the idle rate is sampled interleaved with the snapshots it is
		// compared with and over as much time.
		if sampleMem || mode == cow.ModeStopTheWorld { // no rate reported for stop-the-world
			time.Sleep(idleWindow)
		} else {
			c2 := m.count()
			time.Sleep(c1.t.Sub(t0))
			c3 := m.count()
			idle += c3.t.Sub(c2.t)
			opsIdle += c3.ops - c2.ops
			pr.idle.add(c2, c3)
		}
		if r.Err != nil {
			return nil, r.Err
		}
		pr.pauses = append(pr.pauses, tk.Pause)
		if os.Getenv("COWBOOK_SNAPBENCH_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "snapshot %d: pause %v clone %v elapsed %v collapse %v\n", i, tk.Pause, tk.Clone, r.Elapsed, r.Collapse)
		}
		pr.elapsed = append(pr.elapsed, r.Elapsed)
		pr.collapse = append(pr.collapse, r.Collapse)
		pr.hot = append(pr.hot, r.Hot)
		if r.HotErr != nil {
			return nil, r.HotErr
		}
		pr.fileBytes = r.FileBytes
		pr.extraBytes = max(pr.extraBytes, peak)
	}
	if during > 0 {
		pr.opsDuring = float64(opsDuring) / during.Seconds()
	}
	if idle > 0 {
		pr.opsIdle = float64(opsIdle) / idle.Seconds()
	}
	if writing > 0 {
		pr.opsWriting = float64(opsWriting) / writing.Seconds()
	}
	return pr, nil
}

// allocTHPArena maps size bytes the way the engine maps its arena:
// anonymous, private, no swap reservation, 2 MiB aligned, huge pages asked.
func allocTHPArena(size int) ([]byte, func(), error) {
	raw, err := unix.Mmap(-1, 0, size+hugePage, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, nil, fmt.Errorf("perf: mmap arena: %w", err)
	}
	off := 0
	for off < hugePage && addrOf(raw[off:])%hugePage != 0 {
		off += 4096
	}
	arena := raw[off : off+size : off+size]
	if err := unix.Madvise(arena, unix.MADV_HUGEPAGE); err != nil {
		unix.Munmap(raw)
		return nil, nil, fmt.Errorf("perf: madvise(MADV_HUGEPAGE): %w", err)
	}
	return arena, func() { unix.Munmap(raw) }, nil
}

func addrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

// memcpyFloor copies the arena's first 256 MiB (or all of it) once into a
// fresh buffer, the floor for a stop-the-world pause. The buffer is mapped
// outside the Go heap and unmapped after: resident Go heap makes every later
// fork slower (its page tables are copied at 4 KiB granularity), which would
// distort the figures this floor is compared with.
func memcpyFloor(arena []byte) float64 {
	n := min(len(arena), 256<<20)
	dst, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0
	}
	defer unix.Munmap(dst)
	copy(dst, arena[:n]) // fault dst in
	t0 := time.Now()
	copy(dst, arena[:n])
	return float64(n) / time.Since(t0).Seconds() / 1e9
}

// pss reads a process's proportional set size in bytes, or 0.
func pss(pid int) int64 { return smapsRollup(pid, "Pss:") }

func anonHugeBytes() int64 { return smapsRollup(os.Getpid(), "AnonHugePages:") }

func smapsRollup(pid int, field string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field) {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

func safeRatio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

func medianDur(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func maxDur(d []time.Duration) time.Duration {
	var m time.Duration
	for _, v := range d {
		m = max(m, v)
	}
	return m
}

func snapUs(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func snapMs(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// ErrWorkload is returned by SnapBench for an unknown Options.Workload.
var ErrWorkload = errors.New("perf: unknown snapshot benchmark workload")

// ErrNoHelper is returned by SnapBench when Options.Helper names no helper
// command.
var ErrNoHelper = errors.New("perf: snapshot benchmark needs a helper command")

// loadNote says how busy the machine was when the run started (the
// 1-minute load average): on a shared machine, compare ratios measured in
// the same run, not absolute rates.
func loadNote() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return "load average " + f[0] + " at start; on a shared machine compare ratios, not absolutes"
	}
	return "load average unknown; on a shared machine compare ratios, not absolutes"
}
