// Package gatewaytest provides an in-memory gateway.Backend that behaves
// like a node in the ways the gateway and its clients can observe: it
// sequences requests, keeps a trivial book (one price level of matching, so
// that trades happen), logs every command with its client id and request id,
// keeps the node's copy of the idempotency table in sequence order, and
// releases outcomes only once "durable" (after a delay, or when the test
// releases them). A Backend rebuilt from another's durable log plays the
// part of a restarted node.
package gatewaytest

import (
	"slices"
	"sync"
	"time"

	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
)

// Options configures a Backend.
type Options struct {
	// Queue bounds the requests waiting for the sequencer; Submit returns
	// gateway.ErrOverloaded beyond it. Default 4096.
	Queue int
	// CommitQueue bounds the applied outcomes waiting for the simulated
	// group commit; while outcomes are held and it is full, the sequencer
	// stops and Submit soon returns ErrOverloaded. Default 65536.
	CommitQueue int
	// Delay is the simulated group-commit latency: each batch of outcomes
	// is released that long after the first of them was applied.
	Delay time.Duration
	// Clients and Window size the idempotency table (defaults 1024, 1024).
	Clients, Window int
	// Recovering starts the backend in the recovering state.
	Recovering bool
	// Replay is a durable log to rebuild from, as a restarted node would.
	Replay []Record
	// Forget keeps only counts of submitted and durable requests (for
	// benchmarks): Submitted and DurableLog then return nothing.
	Forget bool
}

// Record is one logged command: what a node must write for each request so
// that recovery can rebuild both the book and the idempotency table.
type Record struct {
	Seq uint64
	Req gateway.Request // includes ClientID and ReqID
}

type order struct {
	client uint64
	side   wire.Side
	price  int64
	qty    int64
}

type bookKey struct {
	sym wire.Symbol
	id  uint64
}

type delivery struct {
	client uint64
	r      gateway.Report
}

type completion struct {
	s       *gateway.Session
	rec     Record
	o       gateway.Outcome
	reports []delivery
}

type submission struct {
	s   *gateway.Session
	req gateway.Request
}

// Backend is the fake node. Attach a server before traffic arrives.
type Backend struct {
	opts   Options
	in     chan submission
	commit chan completion
	done   chan struct{}
	wg     sync.WaitGroup

	mu         sync.Mutex
	cond       *sync.Cond
	srv        *gateway.Server
	state      wire.State
	held       bool
	seq        uint64 // last applied (engine thread only, read under mu)
	durable    uint64
	submitted  []gateway.Request
	nSubmitted int
	closed     bool
	durLog     []Record // released to clients: "durable"
	violations []error

	// Owned by the sequencer goroutine.
	dedupe *gateway.Dedupe
	book   map[bookKey]*order
	levels map[wire.Symbol][]uint64 // resting order ids in time order
}

// New starts a Backend; Close stops it.
func New(opts Options) (*Backend, error) {
	if opts.Queue == 0 {
		opts.Queue = 4096
	}
	if opts.CommitQueue == 0 {
		opts.CommitQueue = 1 << 16
	}
	if opts.Clients == 0 {
		opts.Clients = 1024
	}
	if opts.Window == 0 {
		opts.Window = 1024
	}
	d, err := gateway.NewDedupe(opts.Clients, opts.Window)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		opts:   opts,
		in:     make(chan submission, opts.Queue),
		commit: make(chan completion, opts.CommitQueue),
		done:   make(chan struct{}),
		state:  wire.StateReady,
		dedupe: d,
		book:   make(map[bookKey]*order),
		levels: make(map[wire.Symbol][]uint64),
	}
	b.cond = sync.NewCond(&b.mu)
	if opts.Recovering {
		b.state = wire.StateRecovering
	}
	for _, r := range opts.Replay {
		b.apply(r.Req)
		b.durLog = append(b.durLog, r)
	}
	b.durable = b.seq
	b.wg.Add(2)
	go b.sequencer()
	go b.committer()
	return b, nil
}

// Attach sets the server whose sessions receive execution reports.
func (b *Backend) Attach(srv *gateway.Server) {
	b.mu.Lock()
	b.srv = srv
	b.mu.Unlock()
}

// Dedupe returns a copy of the node's idempotency table (what a restarted
// node hands to its new server).
func (b *Backend) Dedupe() *gateway.Dedupe {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dedupe.Clone()
}

// SetState switches between ready and recovering.
func (b *Backend) SetState(s wire.State) {
	b.mu.Lock()
	b.state = s
	b.mu.Unlock()
}

// Hold stops releasing outcomes (they stay "not yet durable").
func (b *Backend) Hold() {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
}

// Release lets held outcomes go.
func (b *Backend) Release() {
	b.mu.Lock()
	b.held = false
	b.cond.Broadcast()
	b.mu.Unlock()
}

// SubmittedCount returns how many requests Submit accepted.
func (b *Backend) SubmittedCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nSubmitted
}

// Submitted returns every request Submit accepted, in order.
func (b *Backend) Submitted() []gateway.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.submitted)
}

// Violations returns the idempotency violations seen: requests the gateway
// handed over whose (client id, request id) was not above the client's last.
func (b *Backend) Violations() []error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.violations)
}

// DurableLog returns the records whose outcomes were released.
func (b *Backend) DurableLog() []Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.durLog)
}

// Close stops the backend; held outcomes are dropped, like a crash.
// Closing twice is harmless.
func (b *Backend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	close(b.done)
	b.mu.Lock()
	b.cond.Broadcast()
	b.mu.Unlock()
	b.wg.Wait()
}

// Submit implements gateway.Backend.
func (b *Backend) Submit(s *gateway.Session, req gateway.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != wire.StateReady {
		return gateway.ErrNotReady
	}
	select {
	case b.in <- submission{s, req}:
		b.nSubmitted++
		if !b.opts.Forget {
			b.submitted = append(b.submitted, req)
		}
		return nil
	default:
		return gateway.ErrOverloaded
	}
}

// Status implements gateway.Backend.
func (b *Backend) Status() wire.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return wire.Status{State: b.state, Seq: b.seq, DurableSeq: b.durable}
}

func (b *Backend) sequencer() {
	defer b.wg.Done()
	for {
		select {
		case sub := <-b.in:
			o, reports := b.apply(sub.req)
			select {
			case b.commit <- completion{s: sub.s, rec: Record{Seq: o.Seq, Req: sub.req}, o: o, reports: reports}:
			case <-b.done:
				return
			}
		case <-b.done:
			return
		}
	}
}

// committer plays the group commit: it releases outcomes in sequence order,
// in batches, after the delay, unless held.
func (b *Backend) committer() {
	defer b.wg.Done()
	var batch []completion
	for {
		select {
		case c := <-b.commit:
			batch = append(batch[:0], c)
		case <-b.done:
			return
		}
	drain:
		for {
			select {
			case c := <-b.commit:
				batch = append(batch, c)
			default:
				break drain
			}
		}
		if b.opts.Delay > 0 {
			time.Sleep(b.opts.Delay)
		}
		b.mu.Lock()
		for b.held {
			select {
			case <-b.done:
				b.mu.Unlock()
				return
			default:
			}
			b.cond.Wait()
		}
		for _, c := range batch {
			if !b.opts.Forget {
				b.durLog = append(b.durLog, c.rec)
			}
			b.durable = c.rec.Seq
		}
		srv := b.srv
		b.mu.Unlock()
		for _, c := range batch {
			c.s.Complete(c.rec.Req.ReqID, c.o)
			if srv != nil {
				for _, d := range c.reports {
					srv.Deliver(d.client, d.r)
				}
			}
		}
	}
}

// apply sequences one request against the trivial book and records it in
// the idempotency table, exactly as a node applies a logged command.
func (b *Backend) apply(req gateway.Request) (gateway.Outcome, []delivery) {
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	o := gateway.Outcome{Seq: seq}
	var out []delivery
	key := bookKey{req.Symbol, req.OrderID}
	switch req.Kind {
	case wire.TypeNewOrder:
		if _, dup := b.book[key]; dup {
			o.Reason = wire.ReasonDuplicateOrder
			break
		}
		qty := req.Qty
		// One level of matching: trade against the oldest opposite order
		// whose price crosses.
		for _, id := range b.levels[req.Symbol] {
			m := b.book[bookKey{req.Symbol, id}]
			crosses := req.Type == wire.Market || (req.Side == wire.Buy && m.price <= req.Price) || (req.Side == wire.Sell && m.price >= req.Price)
			if m.side == req.Side || !crosses {
				continue
			}
			q := min(qty, m.qty)
			tr := gateway.Report{Type: wire.TypeTrade, Seq: seq, OrderID: id, TakerOrderID: req.OrderID,
				Price: m.price, Qty: q, Symbol: req.Symbol, TakerSide: req.Side}
			out = append(out, delivery{m.client, tr}, delivery{req.ClientID, tr})
			m.qty -= q
			qty -= q
			if m.qty == 0 {
				b.remove(req.Symbol, id)
			}
			break
		}
		switch {
		case qty == 0:
		case req.Type == wire.Market || req.TIF == wire.IOC || req.TIF == wire.FOK:
			reason := wire.CancelIOCRemainder
			if req.Type == wire.Market {
				reason = wire.CancelMarketRemainder
			}
			out = append(out, delivery{req.ClientID, gateway.Report{Type: wire.TypeCancelled, Seq: seq,
				OrderID: req.OrderID, Qty: qty, Symbol: req.Symbol, CancelReason: reason}})
		default:
			b.book[key] = &order{client: req.ClientID, side: req.Side, price: req.Price, qty: qty}
			b.levels[req.Symbol] = append(b.levels[req.Symbol], req.OrderID)
		}
	case wire.TypeCancel:
		m, ok := b.book[key]
		if !ok {
			o.Reason = wire.ReasonUnknownOrder
			break
		}
		out = append(out, delivery{req.ClientID, gateway.Report{Type: wire.TypeCancelled, Seq: seq,
			OrderID: req.OrderID, Qty: m.qty, Symbol: req.Symbol, CancelReason: wire.CancelRequested}})
		b.remove(req.Symbol, req.OrderID)
	case wire.TypeReplace:
		m, ok := b.book[key]
		if !ok {
			o.Reason = wire.ReasonUnknownOrder
			break
		}
		m.price, m.qty = req.Price, req.Qty
		out = append(out, delivery{req.ClientID, gateway.Report{Type: wire.TypeReplaced, Seq: seq,
			OrderID: req.OrderID, Price: req.Price, Qty: req.Qty, Symbol: req.Symbol}})
	}
	b.mu.Lock()
	if err := b.dedupe.Record(req.ClientID, req.ReqID, o); err != nil {
		// The gateway handed over a request id twice (or out of order):
		// the bug the tests look for.
		b.violations = append(b.violations, err)
	}
	b.mu.Unlock()
	return o, out
}

func (b *Backend) remove(sym wire.Symbol, id uint64) {
	delete(b.book, bookKey{sym, id})
	ids := b.levels[sym]
	if i := slices.Index(ids, id); i >= 0 {
		b.levels[sym] = slices.Delete(ids, i, i+1)
	}
}
