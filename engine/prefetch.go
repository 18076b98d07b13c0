package engine

import (
	"unsafe"

	"github.com/cowbook/cowbook/internal/prefetch"
)

// Prefetching. Applying a command to a large book that is not in cache is
// a chain of dependent cache misses: the index tag, the index entry, the
// order record, its level and its neighbours in the FIFO chain, each known
// only once the one before it has arrived. A caller that holds the
// commands to come (replay, a batch from the gateway) can overlap those
// chains across commands: Prefetch(cmd, stage) asks the memory system for
// one link of cmd's chain, reading only what earlier stages brought in, so
// that when Apply reaches cmd its lines are already in cache. Run stage 0
// some commands ahead, stage 1 fewer, stage 2 fewer still (see
// PrefetchDistance).
//
// Prefetch only reads the arena and changes nothing, so it cannot change
// what Apply does; it reads the book as it is now, which is not the book
// Apply will see, so a guess may be wrong, and then costs one wasted
// line. Any cmd is accepted: what does not resolve (unknown symbol or
// order, price out of band) is not prefetched.

// PrefetchDistance returns how many commands ahead of Apply each stage of
// Prefetch (0, 1, 2) pays off on a book much larger than the cache: far
// enough that a miss (≈ 100 ns) is served before Apply arrives, near enough
// that the lines are still in L1/L2. Measured with BenchmarkColdTail: 12, 8
// and 4 beat 8/5/2, 10/6/3 and 16/10/5.
func PrefetchDistance() [3]int { return [3]int{12, 8, 4} }

// Prefetch loads one stage of what Apply(cmd) will touch first:
//
//	stage 0: the order-index tag and entry of cmd's id, and for a limit
//	         order the level record of its price;
//	stage 1: for a cancel or replace, the order record the index points
//	         to; for a new limit order, the order at its level's tail
//	         (which link will append after);
//	stage 2: for a cancel or replace, the order's level and its
//	         neighbours in the chain (which unlink rewrites).
func (e *Engine) Prefetch(cmd *Command, stage int) {
	if e.closed {
		return
	}
	switch cmd.Kind {
	case CmdNew, CmdCancel, CmdReplace:
	default:
		return
	}
	si, ok := e.findSymbol(cmd.Symbol)
	if !ok {
		return
	}
	switch stage {
	case 0:
		h := orderHash(si, cmd.ID)
		i := uintptr(h & e.idxMask)
		prefetch.Line(unsafe.Add(e.curTags, i))
		prefetch.Line(unsafe.Add(e.curIdx, i*8))
		if e.oldMask != 0 {
			j := uintptr(h & e.oldMask)
			prefetch.Line(unsafe.Add(e.tags, uintptr(e.oldMask+1)+j))
			prefetch.Line(unsafe.Add(e.index, (uintptr(e.oldMask+1)+j)*8))
		}
		if lv := e.restingLevel(si, cmd); lv != nil {
			prefetch.Line(unsafe.Pointer(lv))
		}
	case 1:
		if cmd.Kind == CmdNew {
			if lv := e.restingLevel(si, cmd); lv != nil && lv.Tail != 0 && lv.Tail <= e.h.PoolHigh {
				prefetch.Line(unsafe.Pointer(e.ord(lv.Tail)))
			}
			return
		}
		if slot := e.peekSlot(si, orderHash(si, cmd.ID)); slot != 0 {
			prefetch.Line(unsafe.Pointer(e.ord(slot)))
		}
	case 2:
		if cmd.Kind == CmdNew {
			return
		}
		slot := e.peekSlot(si, orderHash(si, cmd.ID))
		if slot == 0 {
			return
		}
		o := e.ord(slot)
		if o.ID != uint64(cmd.ID) || uint32(o.Sym) != si || o.Side-1 > 1 {
			return
		}
		s := e.sym(si)
		if o.Level < s.NLevels {
			prefetch.Line(unsafe.Pointer(e.lvl(&s.Side[o.Side-1], int32(o.Level))))
		}
		if o.Prev != 0 && o.Prev <= e.h.PoolHigh {
			prefetch.Line(unsafe.Pointer(e.ord(o.Prev)))
		}
		if o.Next != 0 && o.Next <= e.h.PoolHigh {
			prefetch.Line(unsafe.Pointer(e.ord(o.Next)))
		}
	}
}

// restingLevel returns the level record a new limit order cmd would rest
// at, or nil for any other command (a replace's side is the resting
// order's, not known yet).
func (e *Engine) restingLevel(si uint32, cmd *Command) *level {
	if cmd.Kind != CmdNew || cmd.Type != Limit || cmd.Side != Buy && cmd.Side != Sell {
		return nil
	}
	s := e.sym(si)
	l, r := priceLevel(s, cmd.Price)
	if r != ReasonNone || uint32(l) >= s.NLevels {
		return nil
	}
	return e.lvl(&s.Side[sideIndex(cmd.Side)], l)
}

// peekSlot returns the slot the index holds for hash h in the table in use
// (or the old one during a migration) without reading any order record: the
// first entry whose full hash matches. It may name another order with the
// same hash; Prefetch only uses it as an address.
func (e *Engine) peekSlot(si, h uint32) uint32 {
	tag := tagOf(h)
	for _, mask := range [2]uint32{e.idxMask, e.oldMask} {
		if mask == 0 {
			continue
		}
		base := uintptr(mask + 1)
		i := h & mask
		for n := uint32(0); n <= mask; n++ {
			t := *(*uint8)(unsafe.Add(e.tags, base+uintptr(i)))
			if t == 0 {
				break
			}
			if t == tag {
				ent := *(*uint64)(unsafe.Add(e.index, (base+uintptr(i))*8))
				if uint32(ent>>32) == h && uint32(ent) <= e.h.PoolHigh {
					return uint32(ent)
				}
			}
			i = (i + 1) & mask
		}
	}
	return 0
}
