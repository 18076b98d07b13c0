package node

import (
	"net"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/placement"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// Options configures a Node. Every zero value means the documented default.
type Options struct {
	// FS is the filesystem. Zero: vfs.OS.
	FS vfs.FS
	// Manifest shapes the arena of a new data directory; it is ignored
	// when the directory already has a manifest (the recorded one wins).
	// Zero fields: engine defaults, 1024 × 1024 idempotency table, and
	// DemoSymbols.
	Manifest Manifest
	// Log configures the write-ahead log. Its zero FS means FS (a
	// different one is for negative-control tests only).
	Log walfile.Options
	// Snap configures snapshot reading and writing. Its zero FS means FS
	// (a different one is for negative-control tests only).
	Snap mmapsnap.Options
	// Snapshotter captures and writes snapshots. Zero: InProcess (copy
	// the arena on the engine goroutine, write it on another).
	Snapshotter Snapshotter
	// SnapshotEvery takes a snapshot after that many commands. Zero: 1<<20.
	SnapshotEvery uint64
	// SnapshotInterval takes a snapshot that often when commands arrived
	// since the last one. Zero: 60 s; negative: never on a timer.
	SnapshotInterval time.Duration
	// SnapshotsKept is how many verified snapshots stay on disk. Zero: 2.
	SnapshotsKept int
	// RetainLog keeps every log segment: snapshots do not truncate the
	// log, so the whole history stays replayable (audit, replay --to-seq
	// from genesis, tests that compare with a full replay).
	RetainLog bool
	// NoFinalSnapshot skips the snapshot at clean shutdown (tests).
	NoFinalSnapshot bool
	// QueueLen bounds the requests waiting for the sequencer; a full
	// queue answers "overloaded". Zero: 8192.
	QueueLen int
	// Gateway configures the TCP gateway; its Dedupe, MaxClients and
	// DedupeWindow come from the manifest.
	Gateway gateway.Options
	// Listener, when set, is served from the start of Open: clients that
	// connect during recovery are told "recovering".
	Listener net.Listener
	// Placement pins the engine and log writer threads and pre-faults the
	// arena.
	Placement placement.Options
	// EngineSpin, when positive, lets the engine thread poll its request
	// queue and the log's durable notices for this long before it parks,
	// so that a request or a notice arriving meanwhile costs no thread
	// wake-up. It burns the engine's CPU for that long after each burst of
	// work. Zero: park at once (`cowbook serve` polls for 200 µs).
	EngineSpin time.Duration
	// Failpoint, when set, is called at named points of the pipeline and
	// of snapshotting (see the Failpoint constants), on the goroutine that
	// reaches them. It is for crash tests, which kill the process there;
	// it must not call back into the node.
	Failpoint func(point string)
	// Logf receives one line per notable event (recovery phases, snapshots,
	// failures). Zero: discarded.
	Logf func(format string, args ...any)
}

// Defaults.
const (
	DefaultSnapshotEvery    = 1 << 20
	DefaultSnapshotInterval = 60 * time.Second
	DefaultSnapshotsKept    = 2
	DefaultQueueLen         = 8192
	DefaultDedupeClients    = 1024
	DefaultDedupeWindow     = 1024
)

// Failpoints: where Options.Failpoint is called.
const (
	FailRecovery         = "recovery"           // recovery is starting; clients are already served
	FailBeforeAppend     = "before-append"      // a command is about to be logged
	FailAfterAppend      = "after-append"       // logged (written or queued), not yet known durable, not applied
	FailWrittenNotSynced = "written-not-synced" // a batch of records written to the log file, its fdatasync not begun
	FailBeforeAck        = "before-ack"         // durable, outcome about to be released
	FailSnapshotCaptured = "snapshot-captured"  // arena captured, nothing written
	FailSnapshotWritten  = "snapshot-published" // snapshot file published, log not truncated
	FailSnapshotTruncate = "snapshot-truncated" // log truncated, old snapshots not yet removed
)

// DemoSymbols is the symbol set a new data directory gets when its
// manifest names none: a few instruments with a tick of 1 and a band of
// 1..100000.
func DemoSymbols() []engine.SymbolSpec {
	names := []string{"AAPL", "MSFT", "GOOG", "AMZN", "BTC-USD", "ETH-USD"}
	out := make([]engine.SymbolSpec, len(names))
	for i, n := range names {
		out[i] = engine.SymbolSpec{Symbol: engine.MustSymbol(n), Tick: 1, BandMin: 1, BandMax: 100_000}
	}
	return out
}

// EnsureDefaults fills in the zero fields.
func (o *Options) EnsureDefaults() {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	m := &o.Manifest
	if m.MaxOrders == 0 {
		m.MaxOrders = engine.DefaultMaxOrders
	}
	if m.MaxSymbols == 0 {
		m.MaxSymbols = engine.DefaultMaxSymbols
	}
	if m.MaxLevels == 0 {
		m.MaxLevels = 1 << 17
	}
	if m.LevelCapacity == 0 {
		m.LevelCapacity = 1 << 20
	}
	if m.DedupeClients == 0 {
		m.DedupeClients = DefaultDedupeClients
	}
	if m.DedupeWindow == 0 {
		m.DedupeWindow = DefaultDedupeWindow
	}
	if m.Symbols == nil {
		m.Symbols = DemoSymbols()
	}
	if o.SnapshotEvery == 0 {
		o.SnapshotEvery = DefaultSnapshotEvery
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	if o.SnapshotsKept == 0 {
		o.SnapshotsKept = DefaultSnapshotsKept
	}
	if o.QueueLen == 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}
