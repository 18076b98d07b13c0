package perf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/cowbook/cowbook/engine"
	"golang.org/x/sys/unix"
)

// snapBook is the engine-driven stand-in for the node in SnapBench: a book
// of o.Orders resting orders built through the engine on its own symbol,
// then mutated on the mutator's thread by one of two workloads: the
// standard workload on a second symbol (stdStep), while the background book
// stays as it is, or a churn of the background book itself (step).
type snapBook struct {
	e    *engine.Engine
	rng  *rand.Rand
	live idList // resting (or partly filled) orders, for cancels
	next engine.OrderID
	seq  uint64
	out  []engine.Event
	cmd  engine.Command
	std  *stdStream // nil without the standard workload
}

var snapSymbol = engine.MustSymbol("SNAP")

const (
	snapMid      = 100_000
	snapHalfBand = 10_000
)

// newSnapBook builds a book of n resting orders, alternating sides at
// distances that never cross. The standard workload's symbol is defined
// beside it, with room for std's orders when std is not nil (the book
// then owns std).
func newSnapBook(n int, std *stdStream) (*snapBook, error) {
	spec := stdSymbolSpec()
	stdLevels := int((spec.BandMax-spec.BandMin)/spec.Tick) + 1
	cfg := engine.Config{
		MaxOrders:     n + n/4 + 1<<16,
		MaxSymbols:    2,
		MaxLevels:     max(2*snapHalfBand+1, stdLevels),
		LevelCapacity: 2*snapHalfBand + 1 + stdLevels,
		Symbols: []engine.SymbolSpec{
			{Symbol: snapSymbol, Tick: 1, BandMin: snapMid - snapHalfBand, BandMax: snapMid + snapHalfBand},
			spec,
		},
	}
	if std != nil {
		cfg.MaxOrders += std.peak
	}
	e, err := engine.New(cfg)
	if err != nil {
		if std != nil {
			std.close()
		}
		return nil, err
	}
	if err := e.Prefault(); err != nil {
		e.Close()
		if std != nil {
			std.close()
		}
		return nil, err
	}
	live, err := newIDList(n + n/4 + 1<<16)
	if err != nil {
		e.Close()
		if std != nil {
			std.close()
		}
		return nil, err
	}
	b := &snapBook{e: e, rng: rand.New(rand.NewPCG(5, 9)), live: live, out: make([]engine.Event, 0, 64), std: std}
	for range n {
		if err := b.passive(); err != nil {
			b.close()
			return nil, err
		}
	}
	return b, nil
}

func (b *snapBook) close() {
	b.e.Close()
	b.live.free()
	if b.std != nil {
		b.std.close()
	}
}

// idList is the benchmark's list of live order ids, kept off the Go heap
// in a shared anonymous mapping: a node keeps no such list, and 10 MB of
// private memory in 4 KiB pages adds ≈ 0.7 ms to every fork (the kernel
// duplicates each small private page's mapping, ≈ 0.3 µs apiece), a cost
// that would be the benchmark's, not the engine's. A shared mapping is
// neither copied at fork nor copy-on-write afterwards.
type idList struct {
	mem     []byte
	n       int
	release func()
}

func newIDList(capacity int) (idList, error) {
	mem, err := unix.Mmap(-1, 0, capacity*8, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return idList{}, fmt.Errorf("perf: mmap id list: %w", err)
	}
	return idList{mem: mem, release: func() { unix.Munmap(mem) }}, nil
}

func (l *idList) free() {
	if l.release != nil {
		l.release()
		l.release, l.mem = nil, nil
	}
}

func (l *idList) len() int { return l.n }
func (l *idList) get(i int) engine.OrderID {
	return engine.OrderID(binary.LittleEndian.Uint64(l.mem[8*i:]))
}
func (l *idList) set(i int, id engine.OrderID) {
	binary.LittleEndian.PutUint64(l.mem[8*i:], uint64(id))
}
func (l *idList) push(id engine.OrderID) bool {
	if 8*(l.n+1) > len(l.mem) {
		return false
	}
	l.set(l.n, id)
	l.n++
	return true
}

func (b *snapBook) apply() error {
	b.seq++
	var err error
	b.out, err = b.e.Apply(b.seq, &b.cmd, b.out[:0])
	return err
}

// passive rests a new order 1–5000 ticks away from the mid.
func (b *snapBook) passive() error {
	b.next++
	d := engine.Price(1 + b.rng.IntN(5000))
	b.cmd = engine.Command{Kind: engine.CmdNew, Symbol: snapSymbol, ID: b.next, Account: engine.Account(b.rng.IntN(1000)), Type: engine.Limit, TIF: engine.GTC, Qty: engine.Qty(1 + b.rng.IntN(100))}
	if b.rng.IntN(2) == 0 {
		b.cmd.Side, b.cmd.Price = engine.Buy, snapMid-d
	} else {
		b.cmd.Side, b.cmd.Price = engine.Sell, snapMid+d
	}
	if err := b.apply(); err != nil {
		return err
	}
	for _, ev := range b.out {
		if ev.Kind == engine.EvRejected {
			return fmt.Errorf("perf: building the snapshot book: order %d rejected (%v)", b.cmd.ID, ev.Reason)
		}
	}
	b.live.push(b.next) // a full list only leaves the order out of the cancels
	return nil
}

// step applies one command of the churn: 45% new passive orders, 45%
// cancels of a random live order, 10% IOC orders that take the top level
// of the other side. The book stays near its initial size.
func (b *snapBook) step() error {
	switch r := b.rng.IntN(100); {
	case r < 45:
		return b.passive()
	case r < 90 && b.live.len() > 0:
		i := b.rng.IntN(b.live.len())
		b.cmd = engine.Command{Kind: engine.CmdCancel, Symbol: snapSymbol, ID: b.live.get(i)}
		b.live.set(i, b.live.get(b.live.len()-1))
		b.live.n--
		return b.apply()
	default:
		b.next++
		b.cmd = engine.Command{Kind: engine.CmdNew, Symbol: snapSymbol, ID: b.next, Account: 1, Type: engine.Limit, TIF: engine.IOC, Qty: engine.Qty(1 + b.rng.IntN(50))}
		if b.rng.IntN(2) == 0 {
			b.cmd.Side, b.cmd.Price = engine.Buy, snapMid+snapHalfBand
		} else {
			b.cmd.Side, b.cmd.Price = engine.Sell, snapMid-snapHalfBand
		}
		return b.apply()
	}
}

// stdStep applies the next command of the standard workload. A rejection
// for an unknown or duplicate order id means the stream no longer matches
// the book it was generated against (see stdStream): an error, not a
// figure.
func (b *snapBook) stdStep() error {
	if err := b.std.next(&b.cmd); err != nil {
		return err
	}
	if err := b.apply(); err != nil {
		return err
	}
	for i := range b.out {
		if ev := &b.out[i]; ev.Kind == engine.EvRejected && (ev.Reason == engine.ReasonUnknownOrder || ev.Reason == engine.ReasonDuplicateOrder) {
			return fmt.Errorf("%w: pass %d command %d (%v order %d) rejected: %v", ErrStreamDiverged, b.std.pass, b.std.pos-1, b.cmd.Kind, b.cmd.ID, ev.Reason)
		}
	}
	return nil
}

// ErrStreamDiverged is returned by SnapBench when a command of the standard
// workload is rejected for an order id the workload's own book would have
// accepted: the benchmark's book and the generator's disagree.
var ErrStreamDiverged = errors.New("perf: standard workload diverged from its book")
