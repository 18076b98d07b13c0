package engine

import (
	"fmt"
	"math/bits"
	"unsafe"

	"github.com/cowbook/cowbook/internal/prefetch"
)

// Apply applies cmd, the command with sequence number seq, and appends its
// events to out. It does not allocate when out has room for the events (a
// command emits at most 2 events plus one per trade).
//
// Every sequenced command consumes its number, including one that is
// rejected: LastSeq becomes seq. Bad client input is never an error; it is
// an EvRejected event and leaves the book unchanged. Apply returns an error
// only for a caller bug: ErrSequence when seq != LastSeq()+1, ErrClosed
// after Close. Then nothing changes.
func (e *Engine) Apply(seq uint64, cmd *Command, out []Event) ([]Event, error) {
	if e.closed {
		return out, ErrClosed
	}
	h := e.h
	if seq != h.LastSeq+1 {
		return out, fmt.Errorf("%w: got %d, want %d", ErrSequence, seq, h.LastSeq+1)
	}
	if e.oldMask != 0 {
		e.migrateIndex(migrateSteps)
	}
	start := len(out)
	switch cmd.Kind {
	case CmdNew:
		out = e.newOrder(cmd, out)
	case CmdCancel:
		out = e.cancel(cmd, out)
	case CmdReplace:
		out = e.replace(cmd, out)
	case CmdDefineSymbol:
		if r := e.defineSymbol(cmd.Symbol, cmd.Tick, cmd.BandMin, cmd.BandMax); r != ReasonNone {
			out = append(out, Event{Kind: EvRejected, Reason: r, Symbol: cmd.Symbol})
		} else {
			out = append(out, Event{Kind: EvAccepted, Symbol: cmd.Symbol})
		}
	default:
		out = reject(out, cmd, ReasonInvalid)
	}
	h.LastSeq = seq
	h.Commands++
	x := mix(h.EventHash, seq)
	for i := start; i < len(out); i++ {
		ev := &out[i]
		switch ev.Kind {
		case EvAccepted:
			h.Accepted++
		case EvRejected:
			h.Rejects++
		case EvCancelled:
			h.Cancels++
		case EvReplaced:
			h.Replaces++
		}
		// Three words per event: the hash guards determinism, not
		// against an adversary, so fields are folded pairwise.
		x = mix(x, (uint64(ev.Kind)|uint64(ev.Reason)<<8|uint64(ev.Side)<<16)^bits.RotateLeft64(uint64(ev.Symbol), 24))
		x = mix(x, uint64(ev.ID)^bits.RotateLeft64(uint64(ev.Maker), 32))
		x = mix(x, uint64(ev.Price)^bits.RotateLeft64(uint64(ev.Qty), 32))
	}
	h.Events += uint64(len(out) - start)
	h.EventHash = x
	return out, nil
}

func mix(h, v uint64) uint64 {
	h = (h ^ v) * 0x9E3779B97F4A7C15
	return h ^ h>>29
}

func reject(out []Event, cmd *Command, r Reason) []Event {
	return emit(out, EvRejected, r, cmd.Side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, 0)
}

// emit appends one event, storing its fields in place: building an Event
// in a temporary and copying it costs a store-forwarding stall per event.
func emit(out []Event, kind EventKind, reason Reason, side Side, sym Symbol, id, maker OrderID, price Price, qty Qty, slot uint32) []Event {
	n := len(out)
	if n < cap(out) {
		out = out[:n+1]
	} else {
		out = append(out, Event{})
	}
	ev := &out[n]
	ev.Kind, ev.Reason, ev.Side, ev.Slot = kind, reason, side, slot
	ev.Symbol, ev.ID, ev.Maker, ev.Price, ev.Qty = sym, id, maker, price, qty
	return out
}

// sideIndex maps Buy to the bid side (0) and Sell to the ask side (1).
func sideIndex(s Side) int { return int(s - 1) }

// priceLevel converts a limit price to its level index, or returns the
// rejection reason.
func priceLevel(s *symbol, p Price) (int32, Reason) {
	if int64(p) < s.BandMin || int64(p) > s.BandMax {
		return 0, ReasonPriceOutOfBand
	}
	d := int64(p) - s.BandMin
	if s.Tick == 1 {
		return int32(d), ReasonNone
	}
	q := d / s.Tick
	if q*s.Tick != d {
		return 0, ReasonPriceOffTick
	}
	return int32(q), ReasonNone
}

func levelPrice(s *symbol, l uint32) Price { return Price(s.BandMin + int64(l)*s.Tick) }

// crosses reports whether an order of side at level l would trade with the
// opposite side's best level.
func crosses(s *symbol, side Side, l int32) bool {
	if side == Buy {
		b := s.Side[1].Best
		return b >= 0 && b <= l
	}
	b := s.Side[0].Best
	return b >= 0 && b >= l
}

func (e *Engine) newOrder(cmd *Command, out []Event) []Event {
	if cmd.Side-Buy > Sell-Buy || cmd.Type-Limit > Market-Limit || cmd.TIF-GTC > POST-GTC {
		return reject(out, cmd, ReasonInvalid)
	}
	si, ok := e.findSymbol(cmd.Symbol)
	if !ok {
		return reject(out, cmd, ReasonUnknownSymbol)
	}
	s := e.sym(si)
	if cmd.Qty <= 0 {
		return reject(out, cmd, ReasonBadQty)
	}
	if cmd.Qty > MaxQty {
		return reject(out, cmd, ReasonQtyOverflow)
	}
	var lim int32
	if cmd.Type == Market {
		if cmd.Price != 0 || cmd.TIF == POST {
			return reject(out, cmd, ReasonBadPrice)
		}
		lim = int32(s.NLevels - 1)
		if cmd.Side == Sell {
			lim = 0
		}
	} else {
		var r Reason
		if lim, r = priceLevel(s, cmd.Price); r != ReasonNone {
			return reject(out, cmd, r)
		}
	}
	h := orderHash(si, cmd.ID)
	slot, pos := e.findOrder(si, cmd.ID, h)
	if slot != 0 {
		return reject(out, cmd, ReasonDuplicateOrder)
	}
	if cmd.TIF == POST && crosses(s, cmd.Side, lim) {
		return reject(out, cmd, ReasonWouldTrade)
	}
	rests := cmd.Type == Limit && (cmd.TIF == GTC || cmd.TIF == POST)
	if rests && e.h.Live >= e.h.MaxOrders {
		return reject(out, cmd, ReasonOrdersFull)
	}
	accepted := len(out)
	out = emit(out, EvAccepted, ReasonNone, cmd.Side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, 0)

	rem := uint64(cmd.Qty)
	if cmd.TIF == FOK && e.fillable(s, cmd.Side, lim, rem) < rem {
		return emit(out, EvCancelled, ReasonFOKNotFillable, cmd.Side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, 0)
	}
	live := e.h.Live
	if crosses(s, cmd.Side, lim) {
		out, rem = e.match(si, s, cmd.Side, cmd.ID, lim, rem, out)
	}
	removed := e.h.Live != live // a maker left: index entries may have shifted
	if rem == 0 {
		return out
	}
	if !rests {
		r := ReasonIOCRemainder
		if cmd.Type == Market {
			r = ReasonMarketRemainder
		}
		return emit(out, EvCancelled, r, cmd.Side, cmd.Symbol, cmd.ID, 0, cmd.Price, Qty(rem), 0)
	}
	if 2*(e.h.Live+1) > e.h.IndexActive {
		e.growIndex()
		removed = true
	}
	if removed {
		// Find the hole again.
		_, pos = e.findOrder(si, cmd.ID, h)
	}
	slot = e.allocSlot()
	o := e.ord(slot)
	// Field by field: a composite literal is built in a temporary and
	// copied, which stalls on store forwarding.
	o.ID, o.Qty, o.Account, o.Sym, o.Side, o.Flags = uint64(cmd.ID), uint32(rem), uint32(cmd.Account), uint16(si), uint8(cmd.Side), 0
	if cmd.TIF == POST {
		o.Flags = flagPost
	}
	e.indexPut(pos, h, slot)
	e.h.Live++
	e.link(s, slot, o, lim)
	out[accepted].Slot = slot
	return out
}

// fillable returns how much of want the opposite side can fill up to level
// lim, stopping early once want is reached.
func (e *Engine) fillable(s *symbol, side Side, lim int32, want uint64) uint64 {
	var got uint64
	if side == Buy {
		sd := &s.Side[1]
		for l := sd.Best; l >= 0 && l <= lim && got < want; l = e.nextUp(sd, s.Words, l+1) {
			got += e.lvl(sd, l).Qty
		}
	} else {
		sd := &s.Side[0]
		for l := sd.Best; l >= 0 && l >= lim && got < want; l = e.nextDown(sd, l-1) {
			got += e.lvl(sd, l).Qty
		}
	}
	return got
}

// match trades an incoming order of side with the opposite side, best level
// first, while it crosses level lim and rem > 0. Fully filled makers leave
// the book. It returns the unfilled remainder.
func (e *Engine) match(si uint32, s *symbol, side Side, id OrderID, lim int32, rem uint64, out []Event) ([]Event, uint64) {
	buy := side == Buy
	opp := &s.Side[0]
	if buy {
		opp = &s.Side[1]
	}
	var traded, trades uint64
	var last Price
	for rem > 0 {
		b := opp.Best
		if b < 0 || (buy && b > lim) || (!buy && b < lim) {
			break
		}
		lv := e.lvl(opp, b)
		price := levelPrice(s, uint32(b))
		last = price
		for rem > 0 && lv.Head != 0 {
			slot := lv.Head
			m := e.ord(slot)
			q := uint64(m.Qty)
			if rem < q {
				q = rem
			}
			out = emit(out, EvTrade, ReasonNone, side, Symbol(s.Name), id, OrderID(m.ID), price, Qty(q), slot)
			rem -= q
			traded += q
			trades++
			m.Qty -= uint32(q)
			lv.Qty -= q
			if m.Qty == 0 {
				next := m.Next
				lv.Head = next
				if next != 0 {
					e.ord(next).Prev = 0
				} else {
					lv.Tail = 0
				}
				lv.Count--
				opp.Orders--
				_, pos := e.findOrder(si, OrderID(m.ID), orderHash(si, OrderID(m.ID)))
				e.indexDelete(pos)
				e.freeSlot(slot, m)
			}
		}
		if lv.Head == 0 {
			e.clearBit(opp, b)
			if buy {
				opp.Best = e.nextUp(opp, s.Words, b+1)
			} else {
				opp.Best = e.nextDown(opp, b-1)
			}
		}
	}
	if trades != 0 {
		opp.Qty -= traded
		if buy {
			e.h.AskQty -= traded
		} else {
			e.h.BidQty -= traded
		}
		s.LastTrade = int64(last)
		s.Trades += trades
		s.TradedQty += traded
		e.h.Trades += trades
		e.h.TradedQty += traded
	}
	return out, rem
}

func (e *Engine) allocSlot() uint32 {
	h := e.h
	if f := h.FreeHead; f != 0 {
		h.FreeHead = e.ord(f).Next
		if h.FreeHead != 0 {
			// The free list is the order of past cancels and fills, all
			// over the pool: start loading the next order's slot now.
			prefetch.Line(unsafe.Pointer(e.ord(h.FreeHead)))
		}
		return f
	}
	h.PoolHigh++
	return h.PoolHigh
}

// freeSlot returns a filled or cancelled order's slot to the free list.
func (e *Engine) freeSlot(slot uint32, o *order) {
	*o = order{Next: e.h.FreeHead}
	e.h.FreeHead = slot
	e.h.Live--
}

// link appends order o (slot) at the tail of level l of its side.
func (e *Engine) link(s *symbol, slot uint32, o *order, l int32) {
	k := sideIndex(Side(o.Side))
	sd := &s.Side[k]
	lv := e.lvl(sd, l)
	o.Level = uint32(l)
	o.Next = 0
	o.Prev = lv.Tail
	if lv.Tail != 0 {
		e.ord(lv.Tail).Next = slot
	} else {
		lv.Head = slot
		e.setBit(sd, l)
		if k == 0 {
			if l > sd.Best {
				sd.Best = l
			}
		} else if sd.Best < 0 || l < sd.Best {
			sd.Best = l
		}
	}
	lv.Tail = slot
	lv.Count++
	lv.Qty += uint64(o.Qty)
	sd.Orders++
	sd.Qty += uint64(o.Qty)
	if k == 0 {
		e.h.BidQty += uint64(o.Qty)
	} else {
		e.h.AskQty += uint64(o.Qty)
	}
}

// unlink takes order o out of its level, keeping its slot and index entry.
func (e *Engine) unlink(s *symbol, o *order) {
	k := sideIndex(Side(o.Side))
	sd := &s.Side[k]
	l := int32(o.Level)
	lv := e.lvl(sd, l)
	if o.Prev != 0 {
		e.ord(o.Prev).Next = o.Next
	} else {
		lv.Head = o.Next
	}
	if o.Next != 0 {
		e.ord(o.Next).Prev = o.Prev
	} else {
		lv.Tail = o.Prev
	}
	lv.Count--
	lv.Qty -= uint64(o.Qty)
	sd.Orders--
	sd.Qty -= uint64(o.Qty)
	if k == 0 {
		e.h.BidQty -= uint64(o.Qty)
	} else {
		e.h.AskQty -= uint64(o.Qty)
	}
	if lv.Head == 0 {
		e.clearBit(sd, l)
		if sd.Best == l {
			if k == 0 {
				sd.Best = e.nextDown(sd, l-1)
			} else {
				sd.Best = e.nextUp(sd, s.Words, l+1)
			}
		}
	}
}

func (e *Engine) cancel(cmd *Command, out []Event) []Event {
	si, ok := e.findSymbol(cmd.Symbol)
	if !ok {
		return reject(out, cmd, ReasonUnknownSymbol)
	}
	slot, pos := e.findOrder(si, cmd.ID, orderHash(si, cmd.ID))
	if slot == 0 {
		return reject(out, cmd, ReasonUnknownOrder)
	}
	s := e.sym(si)
	o := e.ord(slot)
	out = emit(out, EvCancelled, ReasonCancelled, Side(o.Side), cmd.Symbol, cmd.ID, 0, levelPrice(s, o.Level), Qty(o.Qty), slot)
	e.unlink(s, o)
	e.indexDelete(pos)
	e.freeSlot(slot, o)
	return out
}

func (e *Engine) replace(cmd *Command, out []Event) []Event {
	si, ok := e.findSymbol(cmd.Symbol)
	if !ok {
		return reject(out, cmd, ReasonUnknownSymbol)
	}
	h := orderHash(si, cmd.ID)
	slot, _ := e.findOrder(si, cmd.ID, h)
	if slot == 0 {
		return reject(out, cmd, ReasonUnknownOrder)
	}
	if cmd.Qty <= 0 {
		return reject(out, cmd, ReasonBadQty)
	}
	if cmd.Qty > MaxQty {
		return reject(out, cmd, ReasonQtyOverflow)
	}
	s := e.sym(si)
	nl, r := priceLevel(s, cmd.Price)
	if r != ReasonNone {
		return reject(out, cmd, r)
	}
	o := e.ord(slot)
	side := Side(o.Side)
	nq := uint64(cmd.Qty)
	if uint32(nl) == o.Level && nq <= uint64(o.Qty) {
		// Same price, not larger: keeps its place in the queue.
		k := sideIndex(side)
		sd := &s.Side[k]
		d := uint64(o.Qty) - nq
		o.Qty = uint32(nq)
		e.lvl(sd, nl).Qty -= d
		sd.Qty -= d
		if k == 0 {
			e.h.BidQty -= d
		} else {
			e.h.AskQty -= d
		}
		return emit(out, EvReplaced, ReasonNone, side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, slot)
	}
	if o.Flags&flagPost != 0 && crosses(s, side, nl) {
		return emit(out, EvRejected, ReasonWouldTrade, side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, 0)
	}
	out = emit(out, EvReplaced, ReasonNone, side, cmd.Symbol, cmd.ID, 0, cmd.Price, cmd.Qty, slot)
	e.unlink(s, o)
	rem := nq
	if crosses(s, side, nl) {
		out, rem = e.match(si, s, side, cmd.ID, nl, rem, out)
	}
	if rem == 0 {
		_, pos := e.findOrder(si, cmd.ID, h)
		e.indexDelete(pos)
		e.freeSlot(slot, o)
		return out
	}
	o.Qty = uint32(rem)
	e.link(s, slot, o, nl)
	return out
}

// defineSymbol adds a symbol; it is the S command and the initial symbols
// of Config.
func (e *Engine) defineSymbol(name Symbol, tick, bandMin, bandMax Price) Reason {
	h := e.h
	if !name.Valid() || tick <= 0 || bandMin <= 0 || bandMax < bandMin || (bandMax-bandMin)%tick != 0 {
		return ReasonBadSymbol
	}
	n := uint64((bandMax-bandMin)/tick) + 1
	if n > uint64(h.MaxLevels) {
		return ReasonBadSymbol
	}
	pos, found := e.findSymbol(name)
	if found {
		return ReasonDuplicateSymbol
	}
	if h.NSymbols >= h.MaxSymbols {
		return ReasonSymbolsFull
	}
	size := blockBytes(n)
	if h.LevelsUsed+n > h.LevelCapacity || h.HeapUsed+size > h.HeapSize {
		return ReasonLevelsFull
	}
	si := h.NSymbols
	words := (n + 63) / 64
	sum := (words + 63) / 64
	off := h.HeapOff + h.HeapUsed
	s := e.sym(si)
	*s = symbol{Name: uint64(name), Tick: int64(tick), BandMin: int64(bandMin), BandMax: int64(bandMax),
		NLevels: uint32(n), Words: uint32(words), SumWords: uint32(sum)}
	for k := range s.Side {
		s.Side[k] = bookSide{
			Levels: off + uint64(k)*n*levelSize,
			Bits:   off + 2*n*levelSize + uint64(k)*words*8,
			Sum:    off + 2*n*levelSize + 2*words*8 + uint64(k)*sum*8,
			Best:   noLevel,
		}
	}
	*e.symSlot(pos) = si + 1
	h.NSymbols++
	h.HeapUsed += size
	h.LevelsUsed += n
	return ReasonNone
}
