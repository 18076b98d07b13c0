package node

import (
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/placement"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
	"github.com/cowbook/cowbook/walfile"
)

// LoadPattern returns the requests `cowbook load` and the end-to-end
// benchmark send: each connection places a non-crossing limit order on sym
// (buys below mid on even connections, sells above on odd ones) and
// cancels it with its next request, so the book stays small however long
// the run. base makes order ids unique across runs.
func LoadPattern(sym wire.Symbol, mid int64, base uint64) func(conn int, i uint64) client.Request {
	return func(conn int, i uint64) client.Request {
		id := base + uint64(conn)<<40 + i/2 + 1
		if i%2 == 1 {
			return client.Request{Kind: wire.TypeCancel, Symbol: sym, OrderID: id}
		}
		side, price := wire.Buy, mid-1-int64(i%16)
		if conn%2 == 1 {
			side, price = wire.Sell, mid+1+int64(i%16)
		}
		return client.Request{Kind: wire.TypeNewOrder, Symbol: sym, OrderID: id, Account: 1, Side: side,
			Type: wire.Limit, TIF: wire.GTC, Price: price, Qty: 1}
	}
}

// RecoveryBench is the result of BenchRecovery (`cowbook bench recovery`).
type RecoveryBench struct {
	Orders               int     `json:"orders"`
	TailCommands         int     `json:"tail_commands"`
	ArenaBytes           int     `json:"arena_bytes"`
	SnapshotFileBytes    int64   `json:"snapshot_file_bytes"`
	SnapshotLoadMs       float64 `json:"snapshot_load_ms"`
	LogOpenMs            float64 `json:"log_open_ms"`
	ReplayMs             float64 `json:"replay_ms"`
	ValidateMs           float64 `json:"validate_ms"`
	RTOMs                float64 `json:"rto_ms"`
	RecoveryMs           float64 `json:"recovery_ms"` // = rto_ms, the name docs/report.md charts
	ReplayCommandsPerSec float64 `json:"replay_commands_per_sec"`
	GenesisRTOMs         float64 `json:"genesis_rto_ms"`
	GenesisReplayMs      float64 `json:"genesis_replay_ms"`
	Runs                 int     `json:"runs"`
	// The fields above are for restarts of a log as a node leaves it when
	// killed at almost any time: with its next segment prepared (written
	// full of zeros ahead of need). The first restart after the data is
	// built finds none, since the builder closed its log while preparing
	// one, and writes one while it recovers, as a node killed just after
	// its log moved to a new segment would; it is not in the median.
	FirstRestartRTOMs     float64 `json:"first_restart_rto_ms"`
	FirstRestartLogOpenMs float64 `json:"first_restart_log_open_ms"`
	// The same restart with the log's files dropped from the page cache
	// first: a node killed with kill -9 finds its log, written with
	// O_DIRECT, only on the disk (the fields above are for restarts that
	// follow each other, with the log cached by the one before).
	ColdLogRTOMs      float64 `json:"cold_log_rto_ms"`
	ColdLogOpenMs     float64 `json:"cold_log_open_ms"`
	ColdLogReplayMs   float64 `json:"cold_log_replay_ms"`
	ColdLogSnapLoadMs float64 `json:"cold_log_snapshot_load_ms"`
	// The fields above are for a tail of uniformly random activity over
	// the whole book (cancels of any of its orders, new orders anywhere in
	// a band of 180k ticks): nearly every command misses the cache, the
	// worst case. These are for a tail of the standard workload (perf.Generate,
	// `cowbook gen`) on a symbol of its own beside the same book: activity
	// near a drifting mid, as on a trading day.
	StandardTailRTOMs                float64 `json:"standard_tail_rto_ms"`
	StandardTailReplayMs             float64 `json:"standard_tail_replay_ms"`
	StandardTailValidateMs           float64 `json:"standard_tail_validate_ms"`
	StandardTailReplayCommandsPerSec float64 `json:"standard_tail_replay_commands_per_sec"`
}

// BenchRecovery builds, in a new directory under dir, the data of a node
// that holds orders resting orders in a snapshot followed by tail more
// commands in the log, as a node killed at that point leaves it, then
// times Open (the RTO, median of runs) and the same recovery from genesis
// (the snapshot set aside: a full replay). The log is written directly,
// as the node's sequencer would write it, which is much faster than
// sending millions of orders over TCP. The restarted node is placed by
// place, as `cowbook serve` places it (engine thread, log writer, mlock).
func BenchRecovery(dir string, orders, tail, runs int, logOpts walfile.Options, place placement.Options) (RecoveryBench, error) {
	res := RecoveryBench{Orders: orders, TailCommands: tail, Runs: runs}
	opts := Options{Log: logOpts, SnapshotInterval: -1, NoFinalSnapshot: true, Placement: place}
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	perSec := func(m Recovery) float64 {
		if m.ReplayNs == 0 {
			return 0
		}
		return float64(m.Replayed) / (float64(m.ReplayNs) / 1e9)
	}
	if tail > 0 {
		data, _, err := benchData(dir, orders, tail, true, logOpts)
		if err != nil {
			return res, err
		}
		if _, err := restart(data, opts); err != nil { // see FirstRestartRTOMs
			return res, err
		}
		m, err := medianRecovery(data, opts, runs, false)
		os.RemoveAll(data)
		if err != nil {
			return res, err
		}
		res.StandardTailRTOMs, res.StandardTailReplayMs, res.StandardTailValidateMs = ms(m.TotalNs), ms(m.ReplayNs), ms(m.ValidateNs)
		res.StandardTailReplayCommandsPerSec = perSec(m)
	}
	data, size, err := benchData(dir, orders, tail, false, logOpts)
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(data)
	res.ArenaBytes = size
	if list, err := mmapsnap.List(filepath.Join(data, "snap"), mmapsnap.Options{}); err == nil && len(list) > 0 {
		res.SnapshotFileBytes = list[0].FileBytes
	}
	first, err := restart(data, opts)
	if err != nil {
		return res, err
	}
	res.FirstRestartRTOMs, res.FirstRestartLogOpenMs = ms(first.TotalNs), ms(first.LogOpenNs)
	m, err := medianRecovery(data, opts, runs, false)
	if err != nil {
		return res, err
	}
	c, err := medianRecovery(data, opts, runs, true)
	if err != nil {
		return res, err
	}
	res.ColdLogRTOMs, res.ColdLogOpenMs, res.ColdLogReplayMs, res.ColdLogSnapLoadMs = ms(c.TotalNs), ms(c.LogOpenNs), ms(c.ReplayNs), ms(c.SnapLoadNs)
	res.SnapshotLoadMs, res.LogOpenMs, res.ReplayMs, res.ValidateMs, res.RTOMs = ms(m.SnapLoadNs), ms(m.LogOpenNs), ms(m.ReplayNs), ms(m.ValidateNs), ms(m.TotalNs)
	res.RecoveryMs = res.RTOMs
	res.ReplayCommandsPerSec = perSec(m)
	// Genesis: set the snapshots aside.
	if err := os.Rename(filepath.Join(data, "snap"), filepath.Join(data, "snap.aside")); err != nil {
		return res, err
	}
	if err := os.Mkdir(filepath.Join(data, "snap"), 0o755); err != nil {
		return res, err
	}
	n, err := Open(data, opts)
	if err != nil {
		return res, err
	}
	g := n.Recovery()
	n.Abandon()
	res.GenesisRTOMs, res.GenesisReplayMs = ms(g.TotalNs), ms(g.ReplayNs)
	return res, nil
}

// benchData builds, in a new directory under dir, a node's data: orders
// resting orders on symbol BENCH in a snapshot, then tail commands in the
// log, uniformly random over the book or, when standard is set, the
// standard workload on a symbol of its own. It returns the directory and
// the arena size.
func benchData(dir string, orders, tail int, standard bool, logOpts walfile.Options) (string, int, error) {
	data, err := os.MkdirTemp(dir, "bench-recovery-")
	if err != nil {
		return "", 0, err
	}
	man := Manifest{
		MaxOrders: orders + tail + 1024, MaxSymbols: 4, MaxLevels: 200_001, LevelCapacity: 400_002 + perf.GenConfig(1).LevelCapacity,
		DedupeClients: 64, DedupeWindow: 1024,
		Symbols: []engine.SymbolSpec{{Symbol: engine.MustSymbol("BENCH"), Tick: 1, BandMin: 1, BandMax: 200_001}},
	}
	size, err := build(data, &man, orders, tail, standard, logOpts)
	if err != nil {
		os.RemoveAll(data)
		return "", 0, err
	}
	return data, size, nil
}

// medianRecovery opens the node in data runs times and returns the
// recovery of median RTO, which must have started from the snapshot.
func medianRecovery(data string, opts Options, runs int, coldLog bool) (Recovery, error) {
	var recs []Recovery
	for i := 0; i < max(runs, 1); i++ {
		if coldLog {
			if err := evictFiles(filepath.Join(data, "wal")); err != nil {
				return Recovery{}, err
			}
		}
		r, err := restart(data, opts)
		if err != nil {
			return Recovery{}, err
		}
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].TotalNs < recs[j].TotalNs })
	m := recs[len(recs)/2]
	if m.Source != "snapshot" {
		return m, fmt.Errorf("bench: recovered from %s, not from the snapshot", m.Source)
	}
	return m, nil
}

// restart opens the node in data, as after kill -9, and abandons it once
// it has recovered; it returns the recovery's breakdown.
func restart(data string, opts Options) (Recovery, error) {
	n, err := Open(data, opts)
	if err != nil {
		return Recovery{}, err
	}
	r := n.Recovery()
	n.Abandon()
	return r, nil
}

// build writes the manifest, the log and a snapshot after the resting
// orders, then the tail, and returns the arena size.
func build(data string, man *Manifest, orders, tail int, standard bool, logOpts walfile.Options) (int, error) {
	if err := writeManifest(vfs.OS, data, man); err != nil {
		return 0, err
	}
	cfg, err := man.engineConfig()
	if err != nil {
		return 0, err
	}
	e, err := engine.New(cfg)
	if err != nil {
		return 0, err
	}
	defer e.Close()
	dmem, omem := man.auxParts(e.Aux())
	dd, err := gateway.InitDedupe(dmem, man.DedupeClients, man.DedupeWindow)
	if err != nil {
		return 0, err
	}
	ot, err := initOwners(omem, man.MaxOrders)
	if err != nil {
		return 0, err
	}
	lg, err := walfile.Open(filepath.Join(data, "wal"), logOpts)
	if err != nil {
		return 0, err
	}
	defer lg.Close()
	var buf []byte
	var events []engine.Event
	reqs := make([]uint64, man.DedupeClients+1)
	apply := func(c *engine.Command, cid uint64) error {
		var req uint64
		if cid != 0 {
			reqs[cid]++
			req = reqs[cid]
		}
		buf = appendRecord(buf[:0], c, cid, req)
		seq, err := lg.Append(RecordCommand, buf)
		if err != nil {
			return err
		}
		if events, err = e.Apply(seq, c, events[:0]); err != nil {
			return err
		}
		ot.track(cid, events)
		return recordOutcome(dd, cid, req, outcomeOf(seq, events))
	}
	s := man.Symbols[0]
	if err := apply(&engine.Command{Kind: engine.CmdDefineSymbol, Symbol: s.Symbol, Tick: s.Tick, BandMin: s.BandMin, BandMax: s.BandMax}, 0); err != nil {
		return 0, err
	}
	rng := rand.New(rand.NewSource(1))
	mid := engine.Price(100_000)
	var live []engine.OrderID
	next := engine.OrderID(0)
	newOrder := func(cross bool) *engine.Command {
		next++
		c := &engine.Command{Kind: engine.CmdNew, Symbol: s.Symbol, ID: next, Account: 1, Type: engine.Limit, TIF: engine.GTC, Qty: engine.Qty(1 + rng.Intn(100))}
		off := engine.Price(1 + rng.Intn(90_000))
		if rng.Intn(2) == 0 {
			c.Side, c.Price = engine.Buy, mid-off
		} else {
			c.Side, c.Price = engine.Sell, mid+off
		}
		if cross {
			c.TIF = engine.IOC
			if c.Side == engine.Buy {
				c.Price = mid + 1000
			} else {
				c.Price = mid - 1000
			}
		}
		return c
	}
	for i := 0; i < orders; i++ {
		c := newOrder(false)
		live = append(live, c.ID)
		if err := apply(c, uint64(1+i%man.DedupeClients)); err != nil {
			return 0, err
		}
	}
	if err := lg.WaitDurable(e.LastSeq()); err != nil {
		return 0, err
	}
	arena := e.Arena()
	if _, err := mmapsnap.Write(filepath.Join(data, "snap"), mmapsnap.Meta{Seq: e.LastSeq(), LayoutVersion: engine.LayoutVersion, ArenaSize: uint64(len(arena))},
		bytesReader(arena), mmapsnap.Options{}); err != nil {
		return 0, err
	}
	if standard {
		i := 0
		err := perf.Generate(perf.GenOptions{Ops: tail, Seed: 1}, func(c *engine.Command) error {
			i++
			cid := uint64(1 + i%man.DedupeClients)
			if c.Kind == engine.CmdDefineSymbol {
				cid = 0
			}
			return apply(c, cid)
		})
		if err != nil {
			return 0, err
		}
		tail = 0
	}
	for i := 0; i < tail; i++ {
		var c *engine.Command
		switch p := rng.Intn(10); {
		case p < 3 && len(live) > 0:
			k := rng.Intn(len(live))
			c = &engine.Command{Kind: engine.CmdCancel, Symbol: s.Symbol, ID: live[k]}
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		case p < 4:
			c = newOrder(true)
		default:
			c = newOrder(false)
			live = append(live, c.ID)
		}
		if err := apply(c, uint64(1+i%man.DedupeClients)); err != nil {
			return 0, err
		}
	}
	if err := lg.WaitDurable(e.LastSeq()); err != nil {
		return 0, err
	}
	return len(arena), nil
}

// E2EBench is the result of BenchE2E (`cowbook bench e2e`).
type E2EBench struct {
	Dir                 string  `json:"dir"`
	FloorFdatasyncP50Us float64 `json:"floor_fdatasync_p50_us"`
	FloorFdatasyncP99Us float64 `json:"floor_fdatasync_p99_us"`
	ModerateRatePerSec  int     `json:"moderate_rate_per_sec"`
	ModerateAckedPerSec float64 `json:"moderate_acked_orders_per_sec"`
	ModerateAckP50Us    float64 `json:"moderate_ack_p50_us"`
	ModerateAckP99Us    float64 `json:"moderate_ack_p99_us"`
	ModerateAckP999Us   float64 `json:"moderate_ack_p999_us"`
	AckP50FloorRatio    float64 `json:"ack_p50_floor_ratio"`
	// Latency from the scheduled send time alone, and how late the load
	// generator's timer woke up (client.LoadOptions.Rate says why the
	// ack figures above leave that lateness out).
	ModerateAckFromScheduleP50Us float64 `json:"moderate_ack_from_schedule_p50_us"`
	ModerateAckFromScheduleP99Us float64 `json:"moderate_ack_from_schedule_p99_us"`
	ModerateSenderLateP50Us      float64 `json:"moderate_sender_late_p50_us"`
	ModerateSenderLateP99Us      float64 `json:"moderate_sender_late_p99_us"`
	ClosedConns                  int     `json:"closed_conns"`
	ClosedAckedOrdersPerSec      float64 `json:"closed_acked_orders_per_sec"`
	ClosedAckP50Us               float64 `json:"closed_ack_p50_us"`
	ClosedAckP99Us               float64 `json:"closed_ack_p99_us"`
	ClosedAckP999Us              float64 `json:"closed_ack_p999_us"`
	// The node's own sampled view of the moderate phase: log append to
	// durable, and request taken from the gateway to outcome released.
	NodeModerateCommitP50Us float64 `json:"node_moderate_commit_p50_us"`
	NodeModerateAckP50Us    float64 `json:"node_moderate_ack_p50_us"`
	NodeApplyP50Ns          float64 `json:"node_apply_p50_ns"`
	// What the moderate phase cost: CPU time of the whole process (node
	// and load generator) per second of it, and how long the idle engine
	// thread polled before it parked (Options.EngineSpin).
	ModerateCPUCores float64 `json:"moderate_cpu_cores"`
	EngineSpinUs     float64 `json:"engine_spin_us"`
}

// E2EConfig configures BenchE2E.
type E2EConfig struct {
	Dir          string        // where the node's data and the floor file go
	Conns        int           // closed-loop connections
	Window       int           // requests in flight per connection (closed loop)
	Rate         int           // moderate open-loop rate, requests per second
	Duration     time.Duration // length of each phase
	FloorSamples int
	Log          walfile.Options
	Placement    Options // only its Placement and EngineSpin are used
}

// BenchE2E measures a node over loopback with durability on: the raw
// 4 KiB O_DIRECT pwrite+fdatasync latency of the same filesystem (the
// floor), then acked orders and ack latency at a moderate fixed rate, then
// in a closed loop over many connections.
func BenchE2E(cfg E2EConfig) (E2EBench, error) {
	res := E2EBench{Dir: cfg.Dir, ModerateRatePerSec: cfg.Rate, ClosedConns: cfg.Conns}
	data, err := os.MkdirTemp(cfg.Dir, "bench-e2e-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(data)
	p50, p99, err := fdatasyncFloor(data, cfg.FloorSamples)
	if err != nil {
		return res, err
	}
	res.FloorFdatasyncP50Us, res.FloorFdatasyncP99Us = float64(p50)/1e3, float64(p99)/1e3
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	opts := Options{Log: cfg.Log, Listener: l, SnapshotInterval: -1, NoFinalSnapshot: true, Placement: cfg.Placement.Placement, EngineSpin: cfg.Placement.EngineSpin}
	opts.Gateway.MaxClients = 4096
	n, err := Open(filepath.Join(data, "node"), opts)
	if err != nil {
		l.Close()
		return res, err
	}
	defer n.Abandon()
	addr := l.Addr().String()
	sym, _ := wire.MakeSymbol("AAPL")
	run := func(conns, window, rate int, base uint64) (client.LoadResult, error) {
		return client.Load(context.Background(), addr, client.LoadOptions{
			Conns: conns, Window: window, Rate: rate, Duration: cfg.Duration, ClientIDBase: base,
			Next: LoadPattern(sym, 1000, base<<8),
		})
	}
	hus := func(h *perf.Histogram, q float64) float64 { return float64(h.Quantile(q)) / 1e3 }
	us := func(r client.LoadResult, q float64) float64 { return hus(r.Latency, q) }
	// Warm up (the log prepares its next segment after opening, which
	// competes for the disk), then measure.
	if _, err := client.Load(context.Background(), addr, client.LoadOptions{Conns: 2, Window: 64, Rate: cfg.Rate, Duration: time.Second,
		ClientIDBase: 3 << 20, Next: LoadPattern(sym, 1000, 3<<28)}); err != nil {
		return res, err
	}
	n.resetLatencies()
	cpu0, t0 := processCPU(), time.Now()
	mod, err := run(2, 64, cfg.Rate, 1<<20)
	if err != nil {
		return res, err
	}
	res.ModerateCPUCores = (processCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
	res.EngineSpinUs = float64(cfg.Placement.EngineSpin) / 1e3
	lat := n.Latencies()
	res.NodeModerateCommitP50Us, res.NodeModerateAckP50Us = float64(lat.Commit.P50)/1e3, float64(lat.Ack.P50)/1e3
	res.ModerateAckedPerSec = mod.AckedRate
	res.ModerateAckP50Us, res.ModerateAckP99Us, res.ModerateAckP999Us = us(mod, 0.5), us(mod, 0.99), us(mod, 0.999)
	if res.FloorFdatasyncP50Us > 0 {
		res.AckP50FloorRatio = res.ModerateAckP50Us / res.FloorFdatasyncP50Us
	}
	res.ModerateAckFromScheduleP50Us, res.ModerateAckFromScheduleP99Us = hus(mod.FromSchedule, 0.5), hus(mod.FromSchedule, 0.99)
	res.ModerateSenderLateP50Us, res.ModerateSenderLateP99Us = hus(mod.SenderLate, 0.5), hus(mod.SenderLate, 0.99)
	closed, err := run(cfg.Conns, cfg.Window, 0, 2<<20)
	if err != nil {
		return res, err
	}
	res.ClosedAckedOrdersPerSec = closed.AckedRate
	res.ClosedAckP50Us, res.ClosedAckP99Us, res.ClosedAckP999Us = us(closed, 0.5), us(closed, 0.99), us(closed, 0.999)
	res.NodeApplyP50Ns = float64(n.Latencies().Apply.P50)
	return res, nil
}

// fdatasyncFloor times 4 KiB O_DIRECT pwrite+fdatasync into a pre-written
// file in dir: what one durable commit costs this filesystem at best.
func fdatasyncFloor(dir string, samples int) (p50, p99 int64, err error) {
	name := filepath.Join(dir, "floor")
	f, err := vfs.OS.OpenFile(name, os.O_RDWR|os.O_CREATE|vfs.ODirect, 0o644)
	if err != nil {
		// Filesystems without O_DIRECT (tmpfs): buffered writes, same fdatasync.
		if f, err = vfs.OS.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644); err != nil {
			return 0, 0, err
		}
	}
	defer os.Remove(name)
	defer f.Close()
	buf := vfs.AlignedBuffer(4096)
	const blocks = 1024
	for i := 0; i < blocks; i++ {
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return 0, 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, 0, err
	}
	ds := make([]int64, samples)
	for i := range ds {
		buf[0] = byte(i)
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i%blocks)*4096); err != nil {
			return 0, 0, err
		}
		if err := f.Datasync(); err != nil {
			return 0, 0, err
		}
		ds[i] = int64(time.Since(t))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)*99/100], nil
}
