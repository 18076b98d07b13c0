package node

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// recover rebuilds the engine and the idempotency table: newest snapshot
// that loads (or genesis), then the log from the snapshot's sequence + 1,
// then Validate. It finishes an interrupted genesis (initial symbols not
// all logged yet) and waits until the log is durable.
func (n *Node) recover() error {
	if fp := n.opts.Failpoint; fp != nil {
		fp(FailRecovery)
	}
	start := time.Now()
	rec := &n.rec
	cfg, err := n.man.engineConfig()
	if err != nil {
		return err
	}
	// Opening the log (scanning its tail, preparing the next segment) and
	// loading the snapshot are independent: do them at once.
	lopts := n.opts.Log
	if lopts.FS == nil {
		lopts.FS = n.opts.FS
	}
	if n.opts.Placement.PinWriter && lopts.PinWriter == nil {
		lopts.PinWriter = n.opts.Placement.PinWriterThread
	}
	if fp := n.opts.Failpoint; fp != nil && lopts.AfterWrite == nil {
		lopts.AfterWrite = func() { fp(FailWrittenNotSynced) }
	}
	if lopts.OnDurable == nil {
		// Hand out what became durable on the thread that learned it.
		lopts.OnDurable = func(uint64) { n.release() }
	}
	type opened struct {
		log *walfile.Log
		err error
		ns  int64
	}
	logc := make(chan opened, 1)
	go func() {
		t := time.Now()
		l, err := walfile.Open(filepath.Join(n.dir, "wal"), lopts)
		logc <- opened{l, err, int64(time.Since(t))}
	}()
	serr := n.loadSnapshot(cfg)
	rec.SnapLoadNs = int64(time.Since(start))
	o := <-logc
	n.log, rec.LogOpenNs = o.log, o.ns
	if serr != nil {
		return serr
	}
	if o.err != nil {
		if errors.Is(o.err, walfile.ErrCorrupt) {
			return fmt.Errorf("%w\nthe log is damaged before its end; a repair cuts it at the damage and loses every record after it:\n  cowbook wal repair --force --data %s", o.err, n.dir)
		}
		return o.err
	}
	if dw, ok := n.snaps.(durableWaiter); ok {
		dw.setDurableWait(n.log.WaitDurable)
	}
	if rec.Source == "snapshot" {
		n.opts.Logf("node: recovery: loaded snapshot %s (seq %d) in %v", rec.SnapshotPath, rec.SnapshotSeq, time.Duration(rec.SnapLoadNs))
	} else {
		n.opts.Logf("node: recovery: no usable snapshot, replaying the log from genesis")
	}
	for _, s := range rec.Skipped {
		n.opts.Logf("node: recovery: skipped snapshot %s", s)
	}
	if tt := n.log.Recovery().TornTail; tt != nil {
		rec.TornTail = fmt.Sprintf("%+v", *tt)
		n.opts.Logf("node: recovery: cut a torn log tail (%s; copy in %s)", rec.TornTail, n.log.Recovery().Broken)
	}

	t := time.Now()
	if err := n.replay(); err != nil {
		return err
	}
	rec.ReplayNs = int64(time.Since(t))

	t = time.Now()
	if err := n.eng.Validate(); err != nil {
		return fmt.Errorf("%w: after replay: %v", ErrRecovery, err)
	}
	if err := n.dd.Validate(); err != nil {
		return fmt.Errorf("%w: idempotency table after replay: %v", ErrRecovery, err)
	}
	rec.ValidateNs = int64(time.Since(t))

	if err := n.finishGenesis(); err != nil {
		return err
	}
	if ip, ok := n.snaps.(*InProcess); ok {
		// Off the recovery path: the first Capture waits for it if needed,
		// and allocates itself if it failed.
		size := len(n.eng.Arena())
		n.snapWG.Add(1)
		go func() {
			defer n.snapWG.Done()
			_ = ip.prepare(size)
		}()
	}
	if n.opts.Placement.Prefault {
		if _, err := n.opts.Placement.PrefaultIfRequested(n.eng.Arena()); err != nil {
			return err
		}
	}
	rec.LastSeq = n.eng.LastSeq()
	rec.TotalNs = int64(time.Since(start))
	n.lastSnap = rec.SnapshotSeq
	if rec.SnapshotSeq > 0 {
		n.snapSeq.Store(rec.SnapshotSeq)
	}
	n.recMu.Lock()
	n.recovery = *rec
	n.recMu.Unlock()
	n.opts.Logf("node: recovered to seq %d from %s: snapshot load %v, log open %v, replay %v (%d commands), validate %v, total (RTO) %v",
		rec.LastSeq, rec.Source, time.Duration(rec.SnapLoadNs), time.Duration(rec.LogOpenNs), time.Duration(rec.ReplayNs),
		rec.Replayed, time.Duration(rec.ValidateNs), time.Duration(rec.TotalNs))
	return nil
}

// loadSnapshot loads the newest snapshot that verifies and attaches the
// engine to it, or formats a fresh arena (genesis).
func (n *Node) loadSnapshot(cfg engine.Config) error {
	rec := &n.rec
	size, err := engine.ArenaSize(cfg)
	if err != nil {
		return err
	}
	mem, err := engine.AllocArena(size)
	if err != nil {
		return err
	}
	sopts := n.snapOpts()
	sopts.ZeroedDst = true // mem is fresh from AllocArena
	info, skipped, err := mmapsnap.LoadNewest(n.snapDir(), mem, sopts)
	for _, s := range skipped {
		rec.Skipped = append(rec.Skipped, fmt.Sprintf("%s: %v", s.Path, s.Err))
	}
	if err == nil {
		eng, aerr := engine.Attach(mem)
		if aerr == nil && eng.LastSeq() != info.Seq {
			aerr = fmt.Errorf("arena at seq %d, file name says %d", eng.LastSeq(), info.Seq)
		}
		var dd *gateway.Dedupe
		var ot *ownerTable
		if aerr == nil {
			dmem, omem := n.man.auxParts(eng.Aux())
			if dd, aerr = gateway.OpenDedupe(dmem); aerr == nil {
				ot, aerr = openOwners(omem, n.man.MaxOrders)
			}
		}
		if aerr == nil {
			n.eng, n.arena, n.dd, n.ot = eng, mem, dd, ot
			rec.Source, rec.SnapshotSeq, rec.SnapshotPath = "snapshot", info.Seq, info.Path
			return nil
		}
		// A file that passed its checksums but does not attach was written
		// by another build; older files would be no better, so start over.
		rec.Skipped = append(rec.Skipped, fmt.Sprintf("%s: %v", info.Path, aerr))
	} else if !errors.Is(err, mmapsnap.ErrNotFound) {
		_ = engine.FreeArena(mem)
		return err
	}
	_ = engine.FreeArena(mem)
	eng, err := engine.New(cfg)
	if err != nil {
		return err
	}
	dmem, omem := n.man.auxParts(eng.Aux())
	dd, err := gateway.InitDedupe(dmem, n.man.DedupeClients, n.man.DedupeWindow)
	if err != nil {
		eng.Close()
		return err
	}
	ot, err := initOwners(omem, n.man.MaxOrders)
	if err != nil {
		eng.Close()
		return err
	}
	n.eng, n.dd, n.ot = eng, dd, ot
	rec.Source = "genesis"
	return nil
}

// replay applies the log from the engine's sequence + 1 to its end.
func (n *Node) replay() error {
	from := n.eng.LastSeq() + 1
	next := n.log.NextSeq()
	if from > next {
		return fmt.Errorf("%w: the state is at seq %d but the log ends at seq %d: records the snapshot holds are missing from the log\nif a forced repair cut the log, everything it still holds is in the snapshot; this starts a new log after it and keeps the old one:\n  cowbook wal restart --data %s", ErrRecovery, from-1, next-1, n.dir)
	}
	if from == next {
		return nil
	}
	if first, err := n.log.FirstSeq(); err != nil {
		return err
	} else if first > from {
		return fmt.Errorf("%w: sequence gap: the state is at seq %d but the log starts at seq %d (no snapshot covers seq %d..%d)", ErrRecovery, from-1, first, from, first-1)
	}
	r, err := n.log.NewReader(from)
	if err != nil {
		return err
	}
	defer r.Close()
	// Replay is a pipeline of two goroutines passing batches, one per
	// core: this one applies them to the engine; the other reads, checks
	// and decodes records a batch ahead, and records what the batches
	// applied left (in sequence order, in tables apart from the engine's
	// state): their outcomes in the idempotency table and the owners of
	// the orders they left resting in the owner table, which nothing
	// reads until replay is over. Each of those is a store at a random
	// place in a large table, off the engine's core.
	const nbatches = 4
	batches, applied := make(chan *replayBatch, nbatches), make(chan *replayBatch, nbatches)
	stop, exited := make(chan struct{}), make(chan struct{})
	var rerr error // the reader's: the idempotency table refused an outcome
	go func() {
		defer close(exited)
		rerr = readBatches(r, n.dd, n.ot, nbatches, batches, applied, stop)
	}()
	err = n.applyBatches(batches, applied)
	if err != nil {
		close(stop)
	}
	close(applied) // the reader records the outcomes it still holds, then exits
	<-exited       // before r.Close (deferred above) runs
	switch {
	case rerr != nil:
		// Its records come before any the applier failed on.
		return rerr
	case err != nil:
		return err
	}
	if got := n.eng.LastSeq(); got != next-1 {
		return fmt.Errorf("%w: replay stopped at seq %d, the log ends at %d", ErrRecovery, got, next-1)
	}
	return nil
}

// applyBatches is replay's applier: it applies each batch it receives to
// the engine, notes in the batch each command's outcome and the slot its
// order rests in, and sends the batch back on applied. It returns at the first error, or when
// batches is closed.
func (n *Node) applyBatches(batches <-chan *replayBatch, applied chan<- *replayBatch) error {
	d := engine.PrefetchDistance()
	d0, d1, d2 := d[0], d[1], d[2]
	for b := range batches {
		// The book is cold and much larger than the cache: ask for each
		// command's lines a few commands ahead (engine.Prefetch), so that
		// their misses overlap instead of following one another.
		for i := 0; i < min(d0, len(b.recs)); i++ {
			n.eng.Prefetch(&b.recs[i].cmd, 0)
		}
		for i := range b.recs {
			if j := i + d0; j < len(b.recs) {
				n.eng.Prefetch(&b.recs[j].cmd, 0)
			}
			if j := i + d1; j < len(b.recs) {
				n.eng.Prefetch(&b.recs[j].cmd, 1)
			}
			if j := i + d2; j < len(b.recs) {
				n.eng.Prefetch(&b.recs[j].cmd, 2)
			}
			rec := &b.recs[i]
			want := n.eng.LastSeq() + 1
			if rec.seq != want {
				return fmt.Errorf("%w: sequence gap: expected seq %d, the log holds %d", ErrRecovery, want, rec.seq)
			}
			out, err := n.applyEngine(rec.seq, &rec.cmd)
			if err != nil {
				return err
			}
			rec.reason, rec.rests = out.Reason, restingSlot(n.events)
			n.rec.Replayed++
		}
		if b.err != nil {
			if errors.Is(b.err, walfile.ErrCorrupt) {
				return fmt.Errorf("%w\nthe log is damaged before its end; a repair cuts it at the damage and loses every record after it:\n  cowbook wal repair --force --data %s", b.err, n.dir)
			}
			return b.err
		}
		applied <- b // never blocks: it holds every batch
	}
	return nil
}

// finishGenesis logs and applies the initial symbols the log does not hold
// yet (a new directory, or a first start cut short), then waits until the
// log is durable.
func (n *Node) finishGenesis() error {
	for i := n.eng.LastSeq(); i < uint64(len(n.man.Symbols)); i++ {
		s := n.man.Symbols[i]
		cmd := engine.Command{Kind: engine.CmdDefineSymbol, Symbol: s.Symbol, Tick: s.Tick, BandMin: s.BandMin, BandMax: s.BandMax}
		n.buf = appendRecord(n.buf[:0], &cmd, 0, 0)
		seq, err := n.log.Append(RecordCommand, n.buf)
		if err != nil {
			return err
		}
		if _, err := n.apply(seq, &cmd, 0, 0); err != nil {
			return err
		}
	}
	if last := n.eng.LastSeq(); last > 0 {
		return n.log.WaitDurable(last)
	}
	return nil
}

const replayBatchLen = 4096

type replayRec struct {
	seq        uint64
	cmd        engine.Command
	cid, reqID uint64
	reason     wire.Reason // the outcome's, set by the applier
	rests      uint32      // the slot the command's order rests in (0: none), set by the applier
}

// replayBatch is a run of decoded records; err, when set, is what stopped
// the reader after them.
type replayBatch struct {
	recs []replayRec
	err  error
}

// readBatches reads r to its end in batches of decoded records, sends
// them on out and closes it. It takes back the batches the applier sends
// on applied, records their outcomes in dd and the owners of the orders
// they left resting in ot, and reuses them; once the log
// is read it serves applied until it is closed. It returns the first error
// of dd, and stops early when stop is closed.
func readBatches(r *walfile.Reader, dd *gateway.Dedupe, ot *ownerTable, nbatches int, out chan<- *replayBatch, applied <-chan *replayBatch, stop <-chan struct{}) error {
	free := make([]*replayBatch, 0, nbatches)
	for range nbatches {
		free = append(free, &replayBatch{recs: make([]replayRec, 0, replayBatchLen)})
	}
	record := func(b *replayBatch) error {
		for i := range b.recs {
			rec := &b.recs[i]
			if err := recordOutcome(dd, rec.cid, rec.reqID, gateway.Outcome{Seq: rec.seq, Reason: rec.reason}); err != nil {
				return err
			}
			ot.set(rec.rests, rec.cid)
		}
		b.recs = b.recs[:0]
		free = append(free, b)
		return nil
	}
	read, err := readLog(r, out, applied, stop, &free, record)
	close(out) // the applier's loop ends with the log
	if !read || err != nil {
		return err
	}
	for b := range applied {
		if err := record(b); err != nil {
			return err
		}
	}
	return nil
}

// readLog is readBatches' reading loop: it reports false if it stopped
// before the log's end (stop, applied closed by an applier that failed, or
// an error recording outcomes, which it returns).
func readLog(r *walfile.Reader, out chan<- *replayBatch, applied <-chan *replayBatch, stop <-chan struct{}, free *[]*replayBatch, record func(*replayBatch) error) (bool, error) {
	// back takes a batch the applier sent back: false when applied was
	// closed instead, or recording failed.
	back := func(b *replayBatch, ok bool) (bool, error) {
		if !ok {
			return false, nil
		}
		err := record(b)
		return err == nil, err
	}
	for {
		// The applier's finished batches first, without waiting.
	drain:
		for {
			select {
			case b, ok := <-applied:
				if more, err := back(b, ok); !more {
					return false, err
				}
			default:
				break drain
			}
		}
		if len(*free) == 0 {
			select {
			case b, ok := <-applied:
				if more, err := back(b, ok); !more {
					return false, err
				}
			case <-stop:
				return false, nil
			}
		}
		b := (*free)[len(*free)-1]
		*free = (*free)[:len(*free)-1]
		for len(b.recs) < replayBatchLen {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.err = err
				break
			}
			// Decoded in place: each record is written once, not copied.
			b.recs = b.recs[:len(b.recs)+1]
			d := &b.recs[len(b.recs)-1]
			d.seq, d.reason, d.rests = rec.Seq, 0, 0
			if err := decodeRecordInto(rec.Type, rec.Payload, &d.cmd, &d.cid, &d.reqID); err != nil {
				b.recs = b.recs[:len(b.recs)-1]
				b.err = fmt.Errorf("%w: seq %d: %v", ErrRecovery, rec.Seq, err)
				break
			}
		}
		done := b.err != nil || len(b.recs) < replayBatchLen
		select {
		case out <- b:
		case <-stop:
			return false, nil
		}
		if done {
			return true, nil
		}
	}
}
