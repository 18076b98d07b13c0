package engine

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/cowbook/cowbook/internal/prefetch"
)

// ErrInvariant is returned by Validate, wrapped with the first violation
// found: where it is and what was expected.
var ErrInvariant = errors.New("engine: invariant violated")

// Validate checks every structural invariant of the arena and reports the
// first violation precisely:
//
//   - header: counts within capacities;
//   - symbol table and symbol index agree;
//   - each level: empty ⇔ no head ⇔ no tail ⇔ bitmap bit clear; its FIFO
//     chain is doubly linked, ends at its tail, holds orders of that
//     symbol, side and level with positive quantity, and their count and
//     total equal the level's;
//   - bitmaps: summary bit j set ⇔ word j non-zero; no bit past the band;
//   - best bid/ask caches are the highest bid and lowest ask level, and
//     the book is not crossed;
//   - per-side and global order counts and quantities add up;
//   - the order-id index holds exactly the live orders, each reachable
//     from its home bucket, with the right hash, in the table in use or,
//     during a migration, in the old table at or after the migration
//     cursor (and not in both); every other index position is empty;
//   - the free list holds exactly the unused slots below the high-water
//     mark.
//
// It reads the whole arena, on two goroutines (the books, and the pool;
// both then share the index scan), and is meant for tests, recovery and
// tools.
func (e *Engine) Validate() error {
	if err := e.validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvariant, err)
	}
	return nil
}

func (e *Engine) validate() error {
	h := e.h
	if h.NSymbols > h.MaxSymbols || h.PoolHigh > h.MaxOrders || h.Live > h.PoolHigh ||
		h.HeapUsed > h.HeapSize || h.LevelsUsed > h.LevelCapacity {
		return fmt.Errorf("header counts out of range: symbols %d/%d, pool high %d/%d, live %d",
			h.NSymbols, h.MaxSymbols, h.PoolHigh, h.MaxOrders, h.Live)
	}
	if h.IndexActive > h.IndexCap || h.IndexActive&(h.IndexActive-1) != 0 || e.idxMask != h.IndexActive-1 {
		return fmt.Errorf("order index in use %d of %d", h.IndexActive, h.IndexCap)
	}
	wantOld := uint32(0)
	if h.IndexOld != 0 {
		wantOld = h.IndexOld - 1
	}
	if !migrationStateOK(h) || e.oldMask != wantOld {
		return fmt.Errorf("order index migration from %d entries at cursor %d, table in use %d", h.IndexOld, h.IndexCursor, h.IndexActive)
	}
	if err := e.checkIndexes(); err != nil {
		return err
	}
	// The level chains and the pool with its index are checked from
	// different ends and only read the arena: check them on two cores.
	// The index scan, the longest part, is cut into chunks that either
	// side takes once its own part is done, so the two finish together.
	// Errors are reported in the order the checks are listed, whoever
	// found them: the books', then the pool's, then the lowest index
	// position's (the order of a sequential scan).
	sc := e.newIndexScan()
	poolErr := make(chan error, 1)
	go func() {
		err := e.validatePool()
		sc.run()
		poolErr <- err
	}()
	bookErr := e.validateBooks()
	sc.run()
	perr := <-poolErr
	switch {
	case bookErr != nil:
		return bookErr
	case perr != nil:
		return perr
	}
	return sc.result()
}

// validateBooks checks the symbols, their levels and order chains, and the
// totals they add up to.
func (e *Engine) validateBooks() error {
	h := e.h
	var levelsUsed, heapUsed uint64
	var live, bidQty, askQty uint64
	for i := uint32(0); i < h.NSymbols; i++ {
		if err := e.checkSymbolRecord(i); err != nil {
			return err
		}
		s := e.sym(i)
		if j, ok := e.findSymbol(Symbol(s.Name)); !ok || j != i {
			return fmt.Errorf("symbol %d (%s) not found at its number in the symbol index", i, Symbol(s.Name))
		}
		levelsUsed += uint64(s.NLevels)
		heapUsed += blockBytes(uint64(s.NLevels))
		for k := 0; k < 2; k++ {
			n, q, err := e.validateSide(i, s, k)
			if err != nil {
				return err
			}
			live += n
			if k == 0 {
				bidQty += q
			} else {
				askQty += q
			}
		}
		if b, a := s.Side[0].Best, s.Side[1].Best; b >= 0 && a >= 0 && b >= a {
			return fmt.Errorf("symbol %s: book crossed: best bid level %d ≥ best ask level %d", Symbol(s.Name), b, a)
		}
	}
	if levelsUsed != h.LevelsUsed || heapUsed != h.HeapUsed {
		return fmt.Errorf("levels used %d (header %d), heap used %d (header %d)", levelsUsed, h.LevelsUsed, heapUsed, h.HeapUsed)
	}
	if live != uint64(h.Live) {
		return fmt.Errorf("%d orders in level chains, header says %d live", live, h.Live)
	}
	if bidQty != h.BidQty || askQty != h.AskQty {
		return fmt.Errorf("resting qty bid %d ask %d, header says %d/%d", bidQty, askQty, h.BidQty, h.AskQty)
	}
	return nil
}

// validatePool checks the order pool and its free list against the
// header (the index is checked against the pool by validateIndexRange).
func (e *Engine) validatePool() error {
	h := e.h
	inUse := uint32(0)
	for slot := uint32(1); slot <= h.PoolHigh; slot++ {
		if e.ord(slot).Side != 0 {
			inUse++
		}
	}
	if inUse != h.Live {
		return fmt.Errorf("%d pool slots in use, header says %d live", inUse, h.Live)
	}
	free := uint32(0)
	for slot := h.FreeHead; slot != 0; slot = e.ord(slot).Next {
		if slot > h.PoolHigh {
			return fmt.Errorf("free list: slot %d above high-water mark %d", slot, h.PoolHigh)
		}
		if e.ord(slot).Side != 0 {
			return fmt.Errorf("free list: slot %d holds a live order", slot)
		}
		free++
		if free > h.PoolHigh {
			return fmt.Errorf("free list: cycle")
		}
	}
	if free+h.Live != h.PoolHigh {
		return fmt.Errorf("free list holds %d slots, live %d, high-water mark %d", free, h.Live, h.PoolHigh)
	}
	if 2*uint64(h.Live) > uint64(h.IndexActive) {
		return fmt.Errorf("order index over half full: %d live in %d", h.Live, h.IndexActive)
	}
	return nil
}

// indexScanChunks is how many pieces the index scan is cut into.
const indexScanChunks = 64

// indexScan is the order-index part of Validate, in chunks of positions
// taken by whichever goroutine is free; each chunk keeps its own count and
// first error.
type indexScan struct {
	e     *Engine
	next  atomic.Uint32
	step  uint32
	count [indexScanChunks]uint32
	err   [indexScanChunks]error
}

func (e *Engine) newIndexScan() *indexScan {
	return &indexScan{e: e, step: (2*e.h.IndexCap + indexScanChunks - 1) / indexScanChunks}
}

// run scans chunks until none is left.
func (sc *indexScan) run() {
	end := 2 * sc.e.h.IndexCap
	for {
		c := sc.next.Add(1) - 1
		if c >= indexScanChunks {
			return
		}
		lo := min(c*sc.step, end)
		sc.count[c], sc.err[c] = sc.e.validateIndexRange(lo, min(lo+sc.step, end))
	}
}

// result is the scan's verdict once every chunk is done: the error of
// the lowest position, else whether the entries add up to the live orders.
func (sc *indexScan) result() error {
	entries := uint32(0)
	for c := range sc.err {
		if sc.err[c] != nil {
			return sc.err[c]
		}
		entries += sc.count[c]
	}
	if entries != sc.e.h.Live {
		return fmt.Errorf("order index holds %d entries, %d live orders", entries, sc.e.h.Live)
	}
	return nil
}

// validateIndexRange checks index positions [lo, hi) and returns how many
// entries they hold: each names a live order that hashes to it and that a
// lookup finds there; every position outside the tables in use is empty.
// It relies on checkIndexes (every probe sequence ends).
func (e *Engine) validateIndexRange(lo, hi uint32) (uint32, error) {
	h := e.h
	entries := uint32(0)
	for p := lo; p < hi; p++ {
		// Each entry's order is a cache miss of its own: ask for the one
		// some entries ahead.
		if q := p + 16; q < hi {
			if s := uint32(*e.idx(q)); s != 0 && s <= h.PoolHigh {
				prefetch.Line(unsafe.Pointer(e.ord(s)))
			}
		}
		ent := *e.idx(p)
		slot := uint32(ent)
		t := tableOf(max(p, 1))
		if p == 0 || (t != h.IndexActive && t != h.IndexOld) {
			if ent != 0 || *e.tag(p) != 0 {
				return 0, fmt.Errorf("order index position %d outside the tables in use (%d, %d) is not empty", p, h.IndexActive, h.IndexOld)
			}
			continue
		}
		if slot == 0 {
			if ent != 0 {
				return 0, fmt.Errorf("order index position %d: empty entry with hash bits", p)
			}
			continue
		}
		if t == h.IndexOld && p-t < h.IndexCursor {
			return 0, fmt.Errorf("order index position %d: entry below the migration cursor %d of the old table", p, h.IndexCursor)
		}
		entries++
		if slot > h.PoolHigh || e.ord(slot).Side == 0 {
			return 0, fmt.Errorf("order index position %d: slot %d is not a live order", p, slot)
		}
		o := e.ord(slot)
		if uint32(o.Sym) >= h.NSymbols {
			return 0, fmt.Errorf("order slot %d: symbol %d undefined", slot, o.Sym)
		}
		hh := orderHash(uint32(o.Sym), OrderID(o.ID))
		if uint32(ent>>32) != hh {
			return 0, fmt.Errorf("order index position %d: hash %#x, order %d hashes to %#x", p, uint32(ent>>32), o.ID, hh)
		}
		// findOrder probes the insert table first: it also proves the
		// key is not in both tables.
		if got, pos := e.findOrder(uint32(o.Sym), OrderID(o.ID), hh); got != slot || pos != p {
			return 0, fmt.Errorf("order index position %d: lookup of order %d finds slot %d at %d", p, o.ID, got, pos)
		}
	}
	return entries, nil
}

// chainWalkers is how many level chains validateSide walks at once.
const chainWalkers = 16

// chainWalk is validateSide's progress along the chain of level l.
type chainWalk struct {
	l          int32
	lv         *level
	slot, prev uint32
	n, q       uint64
}

// validateSide checks one side of symbol i and returns its order count and
// quantity.
func (e *Engine) validateSide(i uint32, s *symbol, k int) (orders, qty uint64, err error) {
	sd := &s.Side[k]
	name := Symbol(s.Name)
	sideName := [2]string{"bid", "ask"}[k]
	best := int32(noLevel)
	maxSteps := uint64(e.h.PoolHigh)
	// The chains are walked chainWalkers at a time, one step of each in
	// turn, so that their cache misses (one per order of a book larger
	// than the cache) overlap instead of following one another. The
	// violation reported is still the one of the lowest level.
	var ws [chainWalkers]chainWalk
	active := 0
	var firstErr error
	errLevel := int32(s.NLevels)
	fail := func(l int32, err error) {
		if l < errLevel {
			errLevel, firstErr = l, err
		}
	}
	for l := int32(0); ; {
		for active < chainWalkers && l < errLevel {
			lv := e.lvl(sd, l)
			bit := *e.word(sd.Bits, uint32(l)>>6)>>(uint32(l)&63)&1 == 1
			switch {
			case lv.Head == 0:
				if lv.Tail != 0 || lv.Count != 0 || lv.Qty != 0 || bit {
					fail(l, fmt.Errorf("%s %s level %d: empty but tail %d count %d qty %d bit %v", name, sideName, l, lv.Tail, lv.Count, lv.Qty, bit))
				}
			case !bit:
				fail(l, fmt.Errorf("%s %s level %d: non-empty but bitmap bit clear", name, sideName, l))
			default:
				if k == 0 || best < 0 { // bids: the highest; asks: the lowest
					best = l
				}
				ws[active] = chainWalk{l: l, lv: lv, slot: lv.Head}
				active++
				if lv.Head <= e.h.PoolHigh {
					prefetch.Line(unsafe.Pointer(e.ord(lv.Head)))
				}
			}
			l++
		}
		if active == 0 {
			break
		}
		for j := 0; j < active; {
			w := &ws[j]
			if w.l > errLevel {
				ws[j] = ws[active-1]
				active--
				continue
			}
			if w.slot == 0 {
				lv := w.lv
				if w.prev != lv.Tail || w.n != uint64(lv.Count) || w.q != lv.Qty {
					fail(w.l, fmt.Errorf("%s %s level %d: chain ends at %d with %d orders qty %d; level says tail %d count %d qty %d",
						name, sideName, w.l, w.prev, w.n, w.q, lv.Tail, lv.Count, lv.Qty))
				}
				orders += w.n
				qty += w.q
				ws[j] = ws[active-1]
				active--
				continue
			}
			if w.slot > e.h.PoolHigh {
				fail(w.l, fmt.Errorf("%s %s level %d: chain reaches slot %d above high-water mark", name, sideName, w.l, w.slot))
				w.l = errLevel + 1 // dropped on its next turn
				continue
			}
			o := e.ord(w.slot)
			if uint32(o.Sym) != i || int(o.Side) != k+1 || o.Level != uint32(w.l) || o.Qty == 0 || o.Prev != w.prev {
				fail(w.l, fmt.Errorf("%s %s level %d: order slot %d (id %d) has symbol %d side %d level %d qty %d prev %d, want %d/%d/%d/>0/%d",
					name, sideName, w.l, w.slot, o.ID, o.Sym, o.Side, o.Level, o.Qty, o.Prev, i, k+1, w.l, w.prev))
				w.l = errLevel + 1
				continue
			}
			w.n++
			w.q += uint64(o.Qty)
			w.prev, w.slot = w.slot, o.Next
			if w.n > maxSteps {
				fail(w.l, fmt.Errorf("%s %s level %d: chain cycles", name, sideName, w.l))
				w.l = errLevel + 1
				continue
			}
			if w.slot != 0 && w.slot <= e.h.PoolHigh {
				prefetch.Line(unsafe.Pointer(e.ord(w.slot)))
			}
			j++
		}
	}
	if firstErr != nil {
		return 0, 0, firstErr
	}
	for w := uint32(0); w < s.Words; w++ {
		word := *e.word(sd.Bits, w)
		if w == s.Words-1 && s.NLevels%64 != 0 && word>>(s.NLevels%64) != 0 {
			return 0, 0, fmt.Errorf("%s %s bitmap: bits set past the band", name, sideName)
		}
		sum := *e.word(sd.Sum, w>>6)>>(w&63)&1 == 1
		if sum != (word != 0) {
			return 0, 0, fmt.Errorf("%s %s bitmap: summary bit of word %d is %v, word is %#x", name, sideName, w, sum, word)
		}
	}
	for j := uint32(0); j < s.SumWords; j++ {
		if j == s.SumWords-1 && s.Words%64 != 0 && *e.word(sd.Sum, j)>>(s.Words%64) != 0 {
			return 0, 0, fmt.Errorf("%s %s summary: bits set past the bitmap", name, sideName)
		}
	}
	if sd.Best != best {
		return 0, 0, fmt.Errorf("%s %s best level cache %d, book says %d", name, sideName, sd.Best, best)
	}
	if orders != uint64(sd.Orders) || qty != sd.Qty {
		return 0, 0, fmt.Errorf("%s %s: %d orders qty %d, side says %d/%d", name, sideName, orders, qty, sd.Orders, sd.Qty)
	}
	return orders, qty, nil
}
