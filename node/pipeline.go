package node

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/mmapsnap"
)

// maxDrain bounds how many queued requests the engine goroutine sequences
// before it looks at durability again.
const maxDrain = 256

// loop is the engine goroutine.
func (n *Node) loop(started chan<- error) {
	defer close(n.done)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if n.opts.Placement.PinEngine {
		release, err := n.opts.Placement.PinEngineThread()
		if err != nil {
			started <- err
			return
		}
		defer release()
	}
	started <- nil
	durable := n.log.Durable()
	var tick <-chan time.Time
	if n.opts.SnapshotInterval > 0 {
		t := time.NewTicker(n.opts.SnapshotInterval)
		defer t.Stop()
		tick = t.C
	}
	spin := n.opts.EngineSpin
	for {
		if spin > 0 && len(n.reqs) == 0 && len(durable) == 0 {
			// Poll for a while before parking: a parked engine thread
			// costs a wake-up on the next request and on the next
			// durable notice.
			deadline := time.Now().Add(spin)
			for i := 0; len(n.reqs) == 0 && len(durable) == 0; i++ {
				if i%64 == 63 && !time.Now().Before(deadline) {
					break
				}
			}
		}
		select {
		case r := <-n.reqs:
			if !n.sequence(&r) {
				return
			}
			for i := 1; i < maxDrain; i++ {
				select {
				case r = <-n.reqs:
					if !n.sequence(&r) {
						return
					}
					continue
				default:
				}
				break
			}
			n.release()
		case <-durable:
			if err := n.log.Err(); err != nil {
				n.fail(fmt.Errorf("node: log failed, stopping without acknowledging anything more: %w", err))
				return
			}
			n.release()
		case <-tick:
			if n.eng.LastSeq() > n.lastSnap {
				n.startSnapshot(nil)
			}
		case q := <-n.queries:
			q.fn(n.eng, n.dd)
			close(q.done)
		case ch := <-n.snapReq:
			n.startSnapshot(ch)
		case res := <-n.snapRes:
			n.snapshotDone(res)
		case <-n.stopReq:
			n.shutdown()
			return
		}
		if n.Err() != nil {
			return
		}
		if !n.snapBusy && n.eng.LastSeq()-n.lastSnap >= n.opts.SnapshotEvery {
			n.startSnapshot(nil)
		}
	}
}

// sequence logs, applies and queues the outcome of one request. It
// returns false after a fail-stop.
func (n *Node) sequence(r *request) bool {
	if n.Err() != nil {
		return false
	}
	cmd, _ := toCommand(&r.req) // Submit took only kinds it converts
	n.buf = appendRecord(n.buf[:0], &cmd, r.req.ClientID, r.req.ReqID)
	if fp := n.opts.Failpoint; fp != nil {
		fp(FailBeforeAppend)
	}
	seq, err := n.log.Append(RecordCommand, n.buf)
	if err != nil {
		n.fail(fmt.Errorf("node: log append failed, stopping without acknowledging anything more: %w", err))
		return false
	}
	if fp := n.opts.Failpoint; fp != nil {
		fp(FailAfterAppend)
	}
	var tap int64
	sampled := seq&sampleMask == 0
	if sampled {
		tap = int64(time.Since(n.epoch))
	}
	out, err := n.apply(seq, &cmd, r.req.ClientID, r.req.ReqID)
	if err != nil {
		n.fail(err)
		return false
	}
	if sampled {
		d := int64(time.Since(n.epoch)) - tap
		n.lat.mu.Lock()
		n.lat.apply.Record(d)
		n.lat.mu.Unlock()
	} else {
		r.t0 = 0
	}
	n.seq.Store(seq)
	n.relMu.Lock()
	nrep := n.queueReports(seq, r.req.ClientID)
	n.pending = append(n.pending, pendingOutcome{seq: seq, sess: r.sess, reqID: r.req.ReqID, out: out, nrep: nrep, t0: r.t0, tap: tap})
	n.relMu.Unlock()
	n.ot.track(r.req.ClientID, n.events)
	return true
}

// apply applies one sequenced command (live or replayed) and records its
// outcome in the idempotency table; n.events holds its events afterwards.
func (n *Node) apply(seq uint64, cmd *engine.Command, cid, reqID uint64) (gateway.Outcome, error) {
	out, err := n.applyEngine(seq, cmd)
	if err != nil {
		return out, err
	}
	return out, recordOutcome(n.dd, cid, reqID, out)
}

// applyEngine is apply without the idempotency table.
func (n *Node) applyEngine(seq uint64, cmd *engine.Command) (gateway.Outcome, error) {
	var err error
	n.events, err = n.eng.Apply(seq, cmd, n.events[:0])
	if err != nil {
		return gateway.Outcome{}, fmt.Errorf("%w: applying seq %d: %v", ErrRecovery, seq, err)
	}
	return outcomeOf(seq, n.events), nil
}

// outcomeOf is the outcome of command seq that the engine answered with
// events: an ack, or the engine's reject with its reason.
func outcomeOf(seq uint64, events []engine.Event) gateway.Outcome {
	out := gateway.Outcome{Seq: seq}
	if len(events) > 0 && events[0].Kind == engine.EvRejected {
		out.Reason = wireReason(events[0].Reason)
	}
	return out
}

// recordOutcome records the outcome of a client's request in the
// idempotency table (nothing for cid 0: a command of no client).
func recordOutcome(dd *gateway.Dedupe, cid, reqID uint64, out gateway.Outcome) error {
	if cid == 0 {
		return nil
	}
	if err := dd.Record(cid, reqID, out); err != nil {
		return fmt.Errorf("%w: idempotency table refused seq %d (client %d request %d): %v", ErrRecovery, out.Seq, cid, reqID, err)
	}
	return nil
}

// queueReports turns the events in n.events into execution reports for
// the clients involved and returns how many it queued, with relMu held. It
// runs before the owner table takes in the order the command left resting,
// which may rest in the slot of a maker it filled.
func (n *Node) queueReports(seq uint64, cid uint64) int {
	count := 0
	add := func(to uint64, r gateway.Report) {
		if to == 0 {
			return
		}
		n.reports = append(n.reports, pendingReport{cid: to, rep: r})
		count++
	}
	for i := range n.events {
		ev := &n.events[i]
		sym := wireSymbol(ev.Symbol)
		switch ev.Kind {
		case engine.EvTrade:
			r := gateway.Report{Type: wire.TypeTrade, Seq: seq, OrderID: uint64(ev.Maker), TakerOrderID: uint64(ev.ID),
				Price: int64(ev.Price), Qty: int64(ev.Qty), Symbol: sym, TakerSide: wire.Side(ev.Side)}
			add(n.ot.get(ev.Slot), r)
			add(cid, r)
		case engine.EvCancelled:
			add(n.ownerOr(ev.Slot, cid), gateway.Report{Type: wire.TypeCancelled, Seq: seq, OrderID: uint64(ev.ID),
				Qty: int64(ev.Qty), Symbol: sym, CancelReason: cancelReason(ev.Reason)})
		case engine.EvReplaced:
			add(n.ownerOr(ev.Slot, cid), gateway.Report{Type: wire.TypeReplaced, Seq: seq, OrderID: uint64(ev.ID),
				Price: int64(ev.Price), Qty: int64(ev.Qty), Symbol: sym})
		}
	}
	return count
}

// ownerOr returns the owner of the order resting in slot, or cid if it has
// none (an order that never rested, or placed by no client).
func (n *Node) ownerOr(slot uint32, cid uint64) uint64 {
	if c := n.ot.get(slot); c != 0 {
		return c
	}
	return cid
}

// release hands out, in sequence order, every outcome and report whose
// command is durable. The log calls it from the I/O worker that made
// records durable (Options.OnDurable), so that an acknowledgement does not
// wait for the engine goroutine to wake up; the engine goroutine calls it
// too, for outcomes it queued after their records were already durable.
func (n *Node) release() {
	n.relMu.Lock()
	defer n.relMu.Unlock()
	d := n.log.DurableSeq()
	n.durable.Store(d)
	var now int64
	for n.ph < len(n.pending) && n.pending[n.ph].seq <= d {
		p := &n.pending[n.ph]
		if fp := n.opts.Failpoint; fp != nil {
			fp(FailBeforeAck)
		}
		if p.sess != nil {
			p.sess.Complete(p.reqID, p.out)
		}
		for i := 0; i < p.nrep; i++ {
			r := &n.reports[n.rh]
			n.srv.Deliver(r.cid, r.rep)
			n.rh++
		}
		if p.tap != 0 {
			if now == 0 {
				now = int64(time.Since(n.epoch))
			}
			n.lat.mu.Lock()
			n.lat.commit.Record(now - p.tap)
			if p.t0 != 0 {
				n.lat.ack.Record(now - p.t0)
			}
			n.lat.mu.Unlock()
		}
		*p = pendingOutcome{}
		n.ph++
	}
	// Reuse the queues' memory: once half of a queue is released, move
	// the rest to the front, so their capacity stays about twice what is
	// in flight and steady state allocates nothing.
	if n.ph > 0 && n.ph >= len(n.pending)/2 {
		k := copy(n.pending, n.pending[n.ph:])
		clear(n.pending[k:])
		n.pending, n.ph = n.pending[:k], 0
	}
	if n.rh > 0 && n.rh >= len(n.reports)/2 {
		k := copy(n.reports, n.reports[n.rh:])
		n.reports, n.rh = n.reports[:k], 0
	}
}

// shutdown drains the queue, waits until everything sequenced is durable,
// releases it, and takes the final snapshot.
func (n *Node) shutdown() {
	for {
		select {
		case r := <-n.reqs:
			if !n.sequence(&r) {
				return
			}
			continue
		default:
		}
		break
	}
	if n.Err() != nil {
		return
	}
	if err := n.log.WaitDurable(n.eng.LastSeq()); err != nil {
		n.fail(err)
		return
	}
	n.release()
	if n.snapBusy {
		n.snapshotDone(<-n.snapRes)
	}
	if !n.opts.NoFinalSnapshot && n.eng.LastSeq() > n.lastSnap {
		n.startSnapshot(nil)
		n.snapshotDone(<-n.snapRes)
	}
}

// startSnapshot captures the arena and writes it on another goroutine.
// hotSpans returns the spans of the arena written at random, for Capture:
// the engine's order-id index, hashed by order id, and the owner table,
// written at the slot each new order takes.
func (n *Node) hotSpans(arena []byte) []engine.Span {
	hot := n.eng.IndexSpans(nil)
	if n.ot != nil {
		off := int(uintptr(unsafe.Pointer(&n.ot.mem[0])) - uintptr(unsafe.Pointer(&arena[0])))
		hot = append(hot, engine.Span{Off: off + ownerHeader, Len: len(n.ot.mem) - ownerHeader})
	}
	return hot
}

func (n *Node) startSnapshot(ch chan error) {
	if ch != nil {
		n.snapWait = append(n.snapWait, ch)
	}
	if n.snapBusy {
		return
	}
	seq := n.eng.LastSeq()
	arena := n.eng.Arena()
	meta := mmapsnap.Meta{Seq: seq, LayoutVersion: engine.LayoutVersion, ArenaSize: uint64(len(arena))}
	// Counted as started even if it fails, so a failing snapshotter (a
	// helper that died) is retried after another SnapshotEvery commands or
	// at the next tick, not on every command.
	n.lastSnap = seq
	write, pause, err := n.snaps.Capture(arena, n.hotSpans(arena), meta)
	if err != nil {
		n.snapshotDone(snapResult{seq: seq, err: err})
		return
	}
	n.snapBusy = true
	fp := n.opts.Failpoint
	if fp == nil {
		fp = func(string) {}
	}
	fp(FailSnapshotCaptured)
	log, dir, keep, sopts, retain := n.log, n.snapDir(), n.opts.SnapshotsKept, n.snapOpts(), n.opts.RetainLog
	n.snapWG.Add(1)
	go func() {
		defer n.snapWG.Done()
		res := snapResult{seq: seq, pause: pause}
		// Publish only once the log holds everything the snapshot does.
		if res.err = log.WaitDurable(seq); res.err == nil {
			if res.err = write(dir); res.err == nil {
				fp(FailSnapshotWritten)
				if !retain {
					res.err = log.TruncateBefore(seq + 1)
				}
				if res.err == nil {
					fp(FailSnapshotTruncate)
					_, res.err = mmapsnap.Retain(dir, keep, sopts)
				}
			}
		}
		n.snapRes <- res
	}()
}

func (n *Node) snapshotDone(res snapResult) {
	n.snapBusy = false
	if res.err != nil {
		n.snapsFailed.Add(1)
		n.opts.Logf("node: snapshot at seq %d failed: %v", res.seq, res.err)
	} else {
		n.snapsTaken.Add(1)
		n.snapSeq.Store(res.seq)
		n.snapUnix.Store(time.Now().UnixNano())
		n.snapPause.Store(uint64(res.pause))
		n.opts.Logf("node: snapshot at seq %d published (pause %v)", res.seq, res.pause)
	}
	for _, ch := range n.snapWait {
		ch <- res.err
	}
	n.snapWait = n.snapWait[:0]
}

// toCommand converts a gateway request into an engine command.
func toCommand(r *gateway.Request) (engine.Command, bool) {
	c := engine.Command{
		Symbol: engine.Symbol(binary.LittleEndian.Uint64(r.Symbol[:])),
		ID:     engine.OrderID(r.OrderID),
	}
	switch r.Kind {
	case wire.TypeNewOrder:
		c.Kind = engine.CmdNew
		c.Account = engine.Account(r.Account)
		c.Side = engine.Side(r.Side)
		c.Type = engine.OrderType(r.Type)
		c.TIF = engine.TIF(r.TIF)
		c.Price = engine.Price(r.Price)
		c.Qty = engine.Qty(r.Qty)
	case wire.TypeCancel:
		c.Kind = engine.CmdCancel
	case wire.TypeReplace:
		c.Kind = engine.CmdReplace
		c.Price = engine.Price(r.Price)
		c.Qty = engine.Qty(r.Qty)
	default:
		return c, false
	}
	return c, true
}

func wireSymbol(s engine.Symbol) wire.Symbol {
	var w wire.Symbol
	binary.LittleEndian.PutUint64(w[:], uint64(s))
	return w
}

// wireReason maps an engine reject reason to the protocol's.
func wireReason(r engine.Reason) wire.Reason {
	switch r {
	case engine.ReasonUnknownSymbol:
		return wire.ReasonUnknownSymbol
	case engine.ReasonUnknownOrder:
		return wire.ReasonUnknownOrder
	case engine.ReasonPriceOffTick:
		return wire.ReasonPriceOffTick
	case engine.ReasonPriceOutOfBand:
		return wire.ReasonPriceOutOfBand
	case engine.ReasonDuplicateOrder:
		return wire.ReasonDuplicateOrder
	case engine.ReasonOrdersFull, engine.ReasonLevelsFull:
		return wire.ReasonBookFull
	case engine.ReasonWouldTrade:
		return wire.ReasonWouldTrade
	case engine.ReasonQtyOverflow:
		return wire.ReasonQtyOverflow
	}
	return wire.ReasonEngineOther
}

func cancelReason(r engine.Reason) wire.CancelReason {
	switch r {
	case engine.ReasonIOCRemainder:
		return wire.CancelIOCRemainder
	case engine.ReasonMarketRemainder:
		return wire.CancelMarketRemainder
	case engine.ReasonFOKNotFillable:
		return wire.CancelFOKUnfilled
	}
	return wire.CancelRequested
}
