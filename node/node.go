package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// Errors returned by the node.
var (
	// ErrStopped is returned by Snapshot and Run after the node stopped.
	ErrStopped = errors.New("node: stopped")
	// ErrRecovery is returned by Open when the data directory cannot be
	// recovered as it is: a sequence gap between the snapshot and the log,
	// a snapshot ahead of the log, or a replayed command the engine
	// refuses. It is wrapped with the details.
	ErrRecovery = errors.New("node: cannot recover")
	// ErrAccount is returned by Submit for an account above 2^32-1, which
	// the engine cannot store; the gateway rejects the request as
	// "unavailable".
	ErrAccount = errors.New("node: account out of range")
)

// Node is a running durable node. Its methods are safe for concurrent use.
type Node struct {
	dir   string
	opts  Options
	man   *Manifest
	log   *walfile.Log
	eng   *engine.Engine
	arena []byte // the arena eng is attached to, when the node allocated it
	dd    *gateway.Dedupe
	srv   *gateway.Server
	snaps Snapshotter

	reqs    chan request
	snapReq chan chan error
	queries chan query
	stopReq chan struct{}
	done    chan struct{} // closed when the engine goroutine returns
	closeMu sync.Mutex
	snapWG  sync.WaitGroup
	errMu   sync.Mutex
	err     error // fail-stop cause

	state       atomic.Uint32
	seq         atomic.Uint64
	durable     atomic.Uint64
	snapSeq     atomic.Uint64
	snapUnix    atomic.Int64
	snapPause   atomic.Uint64
	snapsTaken  atomic.Uint64
	snapsFailed atomic.Uint64
	recMu       sync.Mutex
	recovery    Recovery // published when recovery ends; read by Status
	rec         Recovery // filled in by recover, on the opening goroutine

	lat *latency

	// The outcomes and reports waiting for durability: queued by the engine
	// goroutine, handed out by release on whichever thread learns of
	// durability first (the log's I/O worker, through OnDurable, or the
	// engine goroutine).
	relMu   sync.Mutex
	pending []pendingOutcome
	ph      int
	reports []pendingReport
	rh      int

	// Owned by the engine goroutine.
	buf      []byte
	events   []engine.Event
	ot       *ownerTable
	lastSnap uint64 // sequence of the last snapshot started or recovered
	snapBusy bool
	snapRes  chan snapResult
	snapWait []chan error
	epoch    time.Time
}

type request struct {
	sess *gateway.Session
	req  gateway.Request
	t0   int64 // ns since epoch when Submit took it
}

type pendingOutcome struct {
	seq     uint64
	sess    *gateway.Session
	reqID   uint64
	out     gateway.Outcome
	nrep    int
	t0, tap int64
}

type pendingReport struct {
	cid uint64
	rep gateway.Report
}

type snapResult struct {
	seq   uint64
	pause time.Duration
	err   error
}

// Recovery is how the last Open recovered, phase by phase.
type Recovery struct {
	// Source is "snapshot" or "genesis".
	Source string `json:"source"`
	// SnapshotSeq is the sequence of the snapshot loaded (0: genesis).
	SnapshotSeq uint64 `json:"snapshot_seq"`
	// SnapshotPath is the file loaded; Skipped lists newer ones passed
	// over and why.
	SnapshotPath string   `json:"snapshot_path,omitempty"`
	Skipped      []string `json:"skipped,omitempty"`
	// Replayed is how many log records were applied.
	Replayed   uint64 `json:"replayed"`
	LastSeq    uint64 `json:"last_seq"`
	TornTail   string `json:"torn_tail,omitempty"`
	SnapLoadNs int64  `json:"snapshot_load_ns"`
	LogOpenNs  int64  `json:"log_open_ns"`
	ReplayNs   int64  `json:"replay_ns"`
	ValidateNs int64  `json:"validate_ns"`
	TotalNs    int64  `json:"total_ns"`
}

// Open recovers the node held in dir (creating it when dir holds no
// manifest) and starts sequencing. When opts.Listener is set, clients are
// served from the start and told "recovering" until Open returns.
func Open(dir string, opts Options) (_ *Node, err error) {
	opts.EnsureDefaults()
	n := &Node{
		dir:     dir,
		opts:    opts,
		reqs:    make(chan request, opts.QueueLen),
		snapReq: make(chan chan error, 4),
		queries: make(chan query),
		stopReq: make(chan struct{}),
		done:    make(chan struct{}),
		snapRes: make(chan snapResult, 1),
		events:  make([]engine.Event, 0, 1024),
		lat:     newLatency(),
		epoch:   time.Now(),
	}
	n.state.Store(uint32(wire.StateRecovering))
	n.snaps = opts.Snapshotter
	if n.snaps == nil {
		n.snaps = &InProcess{Opts: n.snapOpts()}
	}
	defer func() {
		if err != nil {
			if n.srv != nil {
				n.srv.Close()
			}
			n.closeParts()
		}
	}()
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	man, err := readManifest(fs, dir)
	if err != nil {
		return nil, err
	}
	if man == nil {
		// A log without a manifest is not a new directory: the manifest is
		// durable before the first record is written. Refuse rather than
		// guess the arena it was written for.
		if names, err := fs.ReadDir(filepath.Join(dir, "wal")); err == nil && len(names) > 0 {
			return nil, fmt.Errorf("%w: %s has a log but no %s", ErrManifest, dir, ManifestName)
		}
		man = &opts.Manifest
		if _, err := man.engineConfig(); err != nil {
			return nil, err
		}
		for _, sub := range []string{"wal", "snap"} {
			if err := fs.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
				return nil, err
			}
		}
		if err := writeManifest(fs, dir, man); err != nil {
			return nil, fmt.Errorf("node: writing manifest: %w", err)
		}
		// The directory itself may be new: make its entry durable too.
		if err := fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("node: syncing the parent of %s: %w", dir, err)
		}
		opts.Logf("node: new data directory %s: %d symbols, %d orders", dir, len(man.Symbols), man.MaxOrders)
	}
	n.man = man
	gw := opts.Gateway
	gw.Dedupe = nil
	gw.MaxClients, gw.DedupeWindow = man.DedupeClients, man.DedupeWindow
	if n.srv, err = gateway.NewServer(n, gw); err != nil {
		return nil, err
	}
	if opts.Listener != nil {
		go func() { _ = n.srv.Serve(opts.Listener) }()
	}
	if err := n.recover(); err != nil {
		n.srv.Close()
		n.closeParts()
		return nil, err
	}
	if err := n.srv.LoadDedupe(n.dd.Clone()); err != nil {
		n.srv.Close()
		n.closeParts()
		return nil, err
	}
	n.seq.Store(n.eng.LastSeq())
	n.durable.Store(n.log.DurableSeq())
	started := make(chan error, 1)
	go n.loop(started)
	if err := <-started; err != nil {
		n.srv.Close()
		n.closeParts()
		return nil, err
	}
	n.state.Store(uint32(wire.StateReady))
	return n, nil
}

func (n *Node) snapOpts() mmapsnap.Options {
	o := n.opts.Snap
	if o.FS == nil {
		o.FS = n.opts.FS
	}
	return o
}

type query struct {
	fn   func(*engine.Engine, *gateway.Dedupe)
	done chan struct{}
}

// Query runs fn on the engine goroutine, between two commands, with the
// engine and the node's idempotency table; fn must only read them and
// must not keep them. It returns ErrStopped if the node stops first.
func (n *Node) Query(ctx context.Context, fn func(*engine.Engine, *gateway.Dedupe)) error {
	q := query{fn: fn, done: make(chan struct{})}
	select {
	case n.queries <- q:
	case <-n.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	<-q.done
	return nil
}

func (n *Node) snapDir() string { return filepath.Join(n.dir, "snap") }

// Server returns the node's gateway, to serve more listeners
// (Server.Serve) or connections.
func (n *Node) Server() *gateway.Server { return n.srv }

// Engine-goroutine-only state is touched below this line.

// Submit implements gateway.Backend: it only enqueues.
func (n *Node) Submit(s *gateway.Session, req gateway.Request) error {
	if wire.State(n.state.Load()) != wire.StateReady {
		return gateway.ErrNotReady
	}
	if req.Account > math.MaxUint32 {
		return ErrAccount
	}
	if _, ok := toCommand(&req); !ok {
		return fmt.Errorf("node: request type %d", req.Kind)
	}
	select {
	case n.reqs <- request{sess: s, req: req, t0: int64(time.Since(n.epoch))}:
		return nil
	default:
		return gateway.ErrOverloaded
	}
}

// Status implements gateway.Backend.
func (n *Node) Status() wire.Status {
	rec := n.Recovery()
	return wire.Status{
		State:              wire.State(n.state.Load()),
		Seq:                n.seq.Load(),
		DurableSeq:         n.durable.Load(),
		SnapshotSeq:        n.snapSeq.Load(),
		SnapshotUnixNano:   n.snapUnix.Load(),
		ForkPauseNs:        n.snapPause.Load(),
		RecoveryNs:         uint64(rec.TotalNs),
		RecoverySnapLoadNs: uint64(rec.SnapLoadNs),
		RecoveryReplayNs:   uint64(rec.ReplayNs),
		RecoveryValidateNs: uint64(rec.ValidateNs),
	}
}

// Recovery returns how the node recovered when it opened.
func (n *Node) Recovery() Recovery {
	n.recMu.Lock()
	defer n.recMu.Unlock()
	return n.recovery
}

// Snapshot takes a snapshot now and waits until it is published (or
// failed). It returns ErrStopped if the node stops first.
func (n *Node) Snapshot(ctx context.Context) error {
	ch := make(chan error, 1)
	select {
	case n.snapReq <- ch:
	case <-n.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-ch:
		return err
	case <-n.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Err returns the error that stopped the node, nil while it runs or after
// a clean shutdown.
func (n *Node) Err() error {
	n.errMu.Lock()
	defer n.errMu.Unlock()
	return n.err
}

// Done is closed when the node has stopped sequencing (clean shutdown or
// fail-stop).
func (n *Node) Done() <-chan struct{} { return n.done }

// Run waits until ctx is cancelled, then shuts the node down cleanly
// (Close), or until the node fails, and returns the cause.
func (n *Node) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return n.Close()
	case <-n.done:
		if err := n.Err(); err != nil {
			n.srv.Close()
			n.closeParts()
			return err
		}
		return n.Close()
	}
}

// Close shuts the node down cleanly: it stops taking requests, delivers
// every outcome owed once durable, takes a final snapshot, and closes the
// log. After a fail-stop it returns the cause.
func (n *Node) Close() error {
	n.state.Store(uint32(wire.StateStopping))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	select {
	case <-n.done:
		n.srv.Close()
	default:
		_ = n.srv.Shutdown(ctx)
	}
	select {
	case n.stopReq <- struct{}{}:
	case <-n.done:
	}
	<-n.done
	n.srv.Close()
	err := n.Err()
	if cerr := n.closeParts(); err == nil {
		err = cerr
	}
	return err
}

// Abandon stops the node at once, as a crash would from the node's side:
// nothing more is acknowledged, no final snapshot is taken, and the log
// is closed without waiting. Tests use it together with a filesystem
// crash image.
func (n *Node) Abandon() {
	n.state.Store(uint32(wire.StateStopping))
	n.srv.Close()
	n.fail(ErrStopped)
	select {
	case n.stopReq <- struct{}{}:
	case <-n.done:
	}
	<-n.done
	n.closeParts()
}

func (n *Node) closeParts() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	var err error
	if n.log != nil {
		if e := n.log.Close(); e != nil && !errors.Is(e, walfile.ErrClosed) && !errors.Is(e, walfile.ErrFailed) {
			err = e
		}
		n.log = nil
	}
	// A snapshot writer still running reads the snapshotter's buffer; the
	// log is closed first so that its wait for durability returns.
	n.snapWG.Wait()
	if n.eng != nil {
		n.eng.Close()
		n.eng = nil
	}
	if n.arena != nil {
		_ = engine.FreeArena(n.arena)
		n.arena = nil
	}
	if n.snaps != nil {
		n.snaps.Close()
		n.snaps = nil
	}
	return err
}

func (n *Node) fail(err error) {
	n.errMu.Lock()
	if n.err == nil {
		n.err = err
	}
	n.errMu.Unlock()
	n.state.Store(uint32(wire.StateStopping))
}
