package engine

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/cowbook/cowbook/internal/prefetch"
	"github.com/cowbook/cowbook/internal/zeros"
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

func (e *Engine) validate() error { return e.validateWith(false) }

// validateWith is validate, checking the order index by looking its
// entries up when lookup is set or an index migration is in progress
// (which needs it), else against the pool's keys.
func (e *Engine) validateWith(lookup bool) error {
	h := e.h
	lookup = lookup || h.IndexOld != 0
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
	// With no index migration in progress the index scan below checks
	// every position of the order index itself, each entry's probe path
	// included, without a lookup; a lookup (during a migration) needs
	// checkIndexes first, which proves that every probe sequence ends.
	if lookup {
		if err := e.checkIndexes(); err != nil {
			return err
		}
	} else if err := e.checkSymbolIndex(); err != nil {
		return err
	}
	// The level chains and the pool with its index are checked from
	// different ends and only read the arena: check them on two cores.
	// The pool scan notes each live order's key hash (poolKeys), so that
	// the index scan, the longest part, checks an entry without fetching
	// its order a second time; it is cut into chunks that either side
	// takes once its own part and the pool scan are done, so the two
	// finish together. Errors are reported in the order the checks are
	// listed, whoever found them: the books', then the pool's, then the
	// lowest index position's (the order of a sequential scan).
	var keys *poolKeys
	if !lookup {
		var err error
		if keys, err = newPoolKeys(h.PoolHigh); err != nil {
			return err
		}
		defer keys.free()
	}
	sc := e.newIndexScan(keys)
	poolErr := make(chan error, 1)
	scanned := make(chan struct{}) // the pool scan is over: keys are complete
	go func() {
		err := e.validatePool(keys)
		if err != nil {
			sc.stop() // the pool's error is the one reported
		}
		close(scanned)
		sc.run()
		poolErr <- err
	}()
	bookErr := e.validateBooks()
	<-scanned
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
// header (the index is checked against the pool by validateIndexRange),
// and notes in keys, when it is not nil, which slots are live and the hash
// of each live order's key.
func (e *Engine) validatePool(keys *poolKeys) error {
	h := e.h
	inUse := uint32(0)
	for slot := uint32(1); slot <= h.PoolHigh; slot++ {
		o := e.ord(slot)
		if o.Side == 0 {
			continue
		}
		inUse++
		if keys != nil {
			if uint32(o.Sym) >= h.NSymbols {
				return fmt.Errorf("order slot %d: symbol %d undefined", slot, o.Sym)
			}
			keys.live[slot>>6] |= 1 << (slot & 63)
			keys.hash[slot] = orderHash(uint32(o.Sym), OrderID(o.ID))
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

// poolKeys is what Validate's pool scan, which reads the pool in order,
// learns for the index scan: which slots hold a live order, and the hash
// of each one's key. The index scan then checks an entry against its
// order by a look-up in a table a few MiB large instead of a fetch of the
// order, one cache miss to memory each, from a pool of hundreds of MiB.
type poolKeys struct {
	mem  []byte
	live []uint64 // bit slot&63 of word slot>>6: slot holds a live order
	hash []uint32 // by slot: the key's hash, where live
}

// newPoolKeys maps zeroed memory (in huge pages, for the index scan's
// random look-ups) for slots 0..high.
func newPoolKeys(high uint32) (*poolKeys, error) {
	words := int(high)/64 + 1
	hashOff := int(alignUp(uint64(words)*8, 64))
	mem, err := AllocArena(hashOff + (int(high)+1)*4)
	if err != nil {
		return nil, err
	}
	return &poolKeys{
		mem:  mem,
		live: unsafe.Slice((*uint64)(unsafe.Pointer(&mem[0])), words),
		hash: unsafe.Slice((*uint32)(unsafe.Pointer(&mem[hashOff])), int(high)+1),
	}, nil
}

func (k *poolKeys) free() { _ = FreeArena(k.mem) }

func (k *poolKeys) isLive(slot uint32) bool {
	return int(slot>>6) < len(k.live) && k.live[slot>>6]>>(slot&63)&1 == 1
}

// indexScanChunks is how many pieces the index scan is cut into.
const indexScanChunks = 64

// indexScan is the order-index part of Validate, in chunks of positions
// taken by whichever goroutine is free; each chunk keeps its own count and
// first error.
type indexScan struct {
	e     *Engine
	keys  *poolKeys // nil during an index migration: entries are looked up
	next  atomic.Uint32
	step  uint32
	count [indexScanChunks]uint32
	err   [indexScanChunks]error
}

func (e *Engine) newIndexScan(keys *poolKeys) *indexScan {
	return &indexScan{e: e, keys: keys, step: (2*e.h.IndexCap + indexScanChunks - 1) / indexScanChunks}
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
		sc.count[c], sc.err[c] = sc.e.validateIndexRange(sc.keys, lo, min(lo+sc.step, end))
	}
}

// stop leaves the chunks no goroutine has taken yet unscanned.
func (sc *indexScan) stop() { sc.next.Store(indexScanChunks) }

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
// Entries are checked against keys when it is not nil, else by a lookup,
// which relies on checkIndexes (every probe sequence ends).
func (e *Engine) validateIndexRange(keys *poolKeys, lo, hi uint32) (uint32, error) {
	h := e.h
	entries := uint32(0)
	for p := lo; p < hi; {
		// The positions of one table, or the empty position 0.
		end, inUse := uint32(1), false
		if p > 0 {
			t := tableOf(p)
			end, inUse = 2*t, t == h.IndexActive || t == h.IndexOld
		}
		end = min(end, hi)
		var n uint32
		var err error
		switch {
		case !inUse:
			err = e.checkIndexEmpty(p, end)
		case keys != nil:
			n, err = e.checkIndexEntries(keys, p, end)
		default:
			n, err = e.lookUpIndexEntries(p, end)
		}
		if err != nil {
			return 0, err
		}
		entries += n
		p = end
	}
	return entries, nil
}

// checkIndexEmpty checks that positions [lo, hi), outside the tables in
// use, are empty: it compares them with zeros a large piece at a time, and
// only looks for the first position that is not once it knows there is one.
func (e *Engine) checkIndexEmpty(lo, hi uint32) error {
	if lo >= hi || zeros.All(unsafe.Slice((*byte)(unsafe.Pointer(e.idx(lo))), uintptr(hi-lo)*8)) &&
		zeros.All(unsafe.Slice(e.tag(lo), hi-lo)) {
		return nil
	}
	for p := lo; p < hi; p++ {
		if *e.idx(p) != 0 || *e.tag(p) != 0 {
			return fmt.Errorf("order index position %d outside the tables in use (%d, %d) is not empty", p, e.h.IndexActive, e.h.IndexOld)
		}
	}
	return nil
}

// checkIndexEntries checks positions [lo, hi) of the order index's one
// table in use (no migration in progress) against the pool's keys: an
// empty position has no tag or hash bits; an entry names a live order,
// carries its key's hash and the tag of that hash, and a lookup finds it:
// every position from its key's home to it is occupied, and none holds
// an entry of the same key (two entries of one key, the one nearer home
// hiding the other, would fail it). So a valid index passes exactly when
// looking every entry up would, without reading an order.
func (e *Engine) checkIndexEntries(keys *poolKeys, lo, hi uint32) (uint32, error) {
	h := e.h
	base := tableOf(lo)
	mask := base - 1
	entries := uint32(0)
	for p := lo; p < hi; p++ {
		// Each entry's hash is a look-up at a random place in keys: ask
		// for the one some entries ahead.
		if q := p + 16; q < hi {
			if s := uint32(*e.idx(q)); s != 0 && s < uint32(len(keys.hash)) {
				prefetch.Line(unsafe.Pointer(&keys.hash[s]))
			}
		}
		ent, tg := *e.idx(p), *e.tag(p)
		slot := uint32(ent)
		if slot == 0 {
			if ent != 0 || tg != 0 {
				return 0, fmt.Errorf("order index position %d: empty entry with hash bits or tag (entry %#x, tag %#x)", p, ent, tg)
			}
			continue
		}
		entries++
		if slot > h.PoolHigh || !keys.isLive(slot) {
			return 0, fmt.Errorf("order index position %d: slot %d is not a live order", p, slot)
		}
		hh := keys.hash[slot]
		if uint32(ent>>32) != hh {
			return 0, fmt.Errorf("order index position %d: hash %#x, order %d hashes to %#x", p, uint32(ent>>32), e.ord(slot).ID, hh)
		}
		if tg != tagOf(hh) {
			return 0, fmt.Errorf("order index position %d: tag %#x does not match entry %#x", p, tg, ent)
		}
		for i := hh & mask; base+i != p; i = (i + 1) & mask {
			q := base + i
			if *e.tag(q) == 0 {
				return 0, fmt.Errorf("order index position %d: a lookup of order %d stops at the empty position %d before it", p, e.ord(slot).ID, q)
			}
			if other := *e.idx(q); uint32(other>>32) == hh && e.sameKey(uint32(other), slot) {
				return 0, fmt.Errorf("order index position %d: lookup of order %d finds slot %d at %d", p, e.ord(slot).ID, uint32(other), q)
			}
		}
	}
	return entries, nil
}

// sameKey reports whether slots a and b hold orders of the same key (a
// may be anything an index entry holds).
func (e *Engine) sameKey(a, b uint32) bool {
	if a == b {
		return true
	}
	if a == 0 || a > e.h.PoolHigh {
		return false
	}
	x, y := e.ord(a), e.ord(b)
	return x.ID == y.ID && x.Sym == y.Sym
}

// lookUpIndexEntries checks positions [lo, hi) of a table in use during an
// index migration by looking each entry's order up, which also proves
// that its key is in one table only.
func (e *Engine) lookUpIndexEntries(lo, hi uint32) (uint32, error) {
	h := e.h
	t := tableOf(lo)
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
