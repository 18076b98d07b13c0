package engine

import (
	"math/bits"
	"unsafe"

	"github.com/cowbook/cowbook/internal/prefetch"
)

// The order-id index maps (symbol, order id) to an order slot. It is an
// open-addressing table with linear probing inside the arena, with a
// parallel array of one-byte tags (0 = empty, else 0x80 | 7 bits of the
// hash) probed first, as Swiss tables do: the tags of a book's index fit in
// the core's L2 cache, so the duplicate-id check of a new order and most
// probe steps never touch the 8-byte entries.
//
// Each entry is one word: the low 32 bits hold the order slot (0 = empty),
// the high 32 bits the key's 32-bit hash. The hash both picks the home
// bucket (hash & mask) and filters probes before the pool record is read.
// Deletion shifts later entries of the cluster back (no tombstones), so
// probe lengths depend only on the live orders, never on history.
//
// Sizing. A sparse table of IndexCap entries would spread a few thousand
// orders over megabytes, one cache miss per lookup; sized to the book, it
// stays in cache. So the table in use has IndexActive entries, a power of
// two from minIndexActive up to IndexCap, and doubles when an insert would
// take its load above one half. The table of size S lives at positions
// [S, 2S) of the index region (2×IndexCap entries), so every size has its
// own place and a table and its double never overlap.
//
// Growth without a stall. Rehashing every live order at once would cost
// about a millisecond at 60k orders, on the engine thread. Instead, growth
// makes the double table the insert target and leaves the old one
// (IndexOld) in place; every command then migrates at most migrateSteps
// positions of the old table, in position order from IndexCursor: an empty
// position is passed, an entry is moved to the new table and deleted from
// the old one by backward shift (which may pull the next entry of its
// cluster into the same position, so the cursor stays). Positions below the
// cursor are therefore always empty, and a cluster can never wrap into
// them. Lookups probe the new table, then the old one while it is being
// drained; each key lives in exactly one of them. The migration takes at
// most 1.5×IndexOld steps (every position once, every entry once), that is
// fewer than IndexOld/2 commands at migrateSteps ≥ 4, and the next growth
// cannot be due before IndexOld/2 more orders rest: growths never overlap.
// All of it is arena state, so an arena copied mid-migration continues
// exactly as the original.

// migrateSteps bounds the index migration work of one command: positions
// of the old table examined (each empty one passed or one entry moved).
// Four is the least that always finishes a migration before the next
// growth is due (see above).
const migrateSteps = 8

func orderHash(sym uint32, id OrderID) uint32 {
	x := uint64(id) ^ uint64(sym)*0x9E3779B97F4A7C15
	x ^= x >> 32
	x *= 0xD6E8FEB86659FD93
	x ^= x >> 32
	x *= 0xD6E8FEB86659FD93
	x ^= x >> 32
	return uint32(x)
}

// findOrder returns the slot of the live order (sym, id) and its position
// in the index region, or slot 0 and the empty position of the insert
// table where it would be inserted.
func (e *Engine) findOrder(sym uint32, id OrderID, h uint32) (slot, pos uint32) {
	// The insert table through its own base pointers: this loop is the
	// duplicate-id check of every new order.
	mask := e.idxMask
	tag := tagOf(h)
	i := h & mask
	for {
		t := *(*uint8)(unsafe.Add(e.curTags, i))
		if t == 0 {
			break
		}
		if t == tag {
			ent := *(*uint64)(unsafe.Add(e.curIdx, uintptr(i)*8))
			if uint32(ent>>32) == h {
				s := uint32(ent)
				o := e.ord(s)
				if o.ID == uint64(id) && uint32(o.Sym) == sym {
					return s, mask + 1 + i
				}
			}
		}
		i = (i + 1) & mask
	}
	if e.oldMask != 0 {
		if s, p := e.probe(e.oldMask, sym, id, h); s != 0 {
			return s, p
		}
	}
	return 0, mask + 1 + i
}

// probe looks (sym, id) up in the table of mask+1 entries.
func (e *Engine) probe(mask uint32, sym uint32, id OrderID, h uint32) (slot, pos uint32) {
	base := mask + 1
	tag := tagOf(h)
	i := h & mask
	for {
		t := *e.tag(base + i)
		if t == 0 {
			return 0, base + i
		}
		if t == tag {
			ent := *e.idx(base + i)
			if uint32(ent>>32) == h {
				s := uint32(ent)
				o := e.ord(s)
				if o.ID == uint64(id) && uint32(o.Sym) == sym {
					return s, base + i
				}
			}
		}
		i = (i + 1) & mask
	}
}

// bindIndex caches where the index tables are, from the header.
func (e *Engine) bindIndex() {
	h := e.h
	e.idxMask = h.IndexActive - 1
	e.curIdx = unsafe.Add(e.index, uintptr(h.IndexActive)*8)
	e.curTags = unsafe.Add(e.tags, uintptr(h.IndexActive))
	e.oldMask = 0
	if h.IndexOld != 0 {
		e.oldMask = h.IndexOld - 1
	}
}

// tagOf is the tag byte of a hash: bits the home bucket does not use (for
// tables up to 2^25 entries), never 0.
func tagOf(h uint32) uint8 { return uint8(h>>25) | 0x80 }

// tableOf returns the size of the table that index position pos belongs to.
func tableOf(pos uint32) uint32 { return 1 << (bits.Len32(pos) - 1) }

// growIndex makes the double of the table in use the insert target and
// starts draining the old one. The double's positions have never been
// used, so they are empty.
func (e *Engine) growIndex() {
	h := e.h
	// A migration ends before the next growth is due (see above); this
	// loop is a guard that keeps the index whole if that ever failed,
	// and the per-command work test would catch it.
	for h.IndexOld != 0 {
		e.migrateIndex(migrateSteps)
	}
	h.IndexOld = h.IndexActive
	h.IndexCursor = 0
	h.IndexActive *= 2
	e.bindIndex()
}

// migrateIndex does up to budget steps of the migration in progress (if
// any) and returns how many it did.
func (e *Engine) migrateIndex(budget int) int {
	h := e.h
	old := h.IndexOld
	n := 0
	for ; n < budget && old != 0; n++ {
		p := old + h.IndexCursor
		// Each moved entry lands at a random place in the new table: ask
		// for the place of the entry a few positions on.
		if a := h.IndexCursor + 16; a < old && *e.tag(old + a) != 0 {
			q := uintptr(uint32(*e.idx(old + a)>>32) & e.idxMask)
			prefetch.Line(unsafe.Add(e.curTags, q))
			prefetch.Line(unsafe.Add(e.curIdx, q*8))
		}
		if t := *e.tag(p); t != 0 {
			ent := *e.idx(p)
			// Any empty position of the new table on the key's probe
			// path will do: the key is in no other place.
			hh := uint32(ent >> 32)
			q := hh & e.idxMask
			for *e.tag(h.IndexActive + q) != 0 {
				q = (q + 1) & e.idxMask
			}
			*e.idx(h.IndexActive + q) = ent
			*e.tag(h.IndexActive + q) = t
			e.indexDelete(p)
			continue
		}
		h.IndexCursor++
		if h.IndexCursor == old {
			h.IndexOld, h.IndexCursor = 0, 0
			old = 0
			e.bindIndex()
		}
	}
	e.migrated += uint64(n)
	return n
}

func (e *Engine) indexPut(pos, h, slot uint32) {
	*e.idx(pos) = uint64(h)<<32 | uint64(slot)
	*e.tag(pos) = tagOf(h)
}

// indexDelete empties position pos and shifts back the entries after it in
// its cluster whose home bucket allows it (backward-shift deletion), in
// whichever table pos belongs to.
func (e *Engine) indexDelete(pos uint32) {
	base := tableOf(pos)
	mask := base - 1
	// The table's own base pointers, as in findOrder: position
	// arithmetic stays out of the loop.
	tags := unsafe.Add(e.tags, uintptr(base))
	ents := unsafe.Add(e.index, uintptr(base)*8)
	hole := pos - base
	j := hole
	for {
		j = (j + 1) & mask
		t := *(*uint8)(unsafe.Add(tags, j))
		if t == 0 {
			break
		}
		ent := *(*uint64)(unsafe.Add(ents, uintptr(j)*8))
		home := uint32(ent>>32) & mask
		// The entry at j may fill the hole if its home is not in (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			*(*uint64)(unsafe.Add(ents, uintptr(hole)*8)) = ent
			*(*uint8)(unsafe.Add(tags, hole)) = t
			hole = j
		}
	}
	*(*uint64)(unsafe.Add(ents, uintptr(hole)*8)) = 0
	*(*uint8)(unsafe.Add(tags, hole)) = 0
}

// The symbol index maps a packed name to its symbol number (entry = number
// + 1, 0 = empty), linear probing; symbols are never removed.

func symbolHash(s Symbol) uint32 {
	x := uint64(s) * 0x9E3779B97F4A7C15
	return uint32(x >> 32)
}

// findSymbol returns the number of symbol s and true, or the empty index
// position where it would be inserted and false.
func (e *Engine) findSymbol(s Symbol) (uint32, bool) {
	mask := e.symMask
	pos := symbolHash(s) & mask
	for {
		ent := *e.symSlot(pos)
		if ent == 0 {
			return pos, false
		}
		if e.sym(ent-1).Name == uint64(s) {
			return ent - 1, true
		}
		pos = (pos + 1) & mask
	}
}

// Level bitmaps: per side, bit i of the Bits words is set iff level i holds
// orders, and bit j of the Sum words is set iff Bits word j is non-zero.
// Finding the next non-empty level costs two word scans plus a scan of the
// summary, which is at most NLevels/4096 words, so a sparse book never walks
// empty levels.

func (e *Engine) setBit(sd *bookSide, l int32) {
	w := uint32(l) >> 6
	p := e.word(sd.Bits, w)
	if *p == 0 {
		*e.word(sd.Sum, w>>6) |= 1 << (w & 63)
	}
	*p |= 1 << (uint32(l) & 63)
}

func (e *Engine) clearBit(sd *bookSide, l int32) {
	w := uint32(l) >> 6
	p := e.word(sd.Bits, w)
	*p &^= 1 << (uint32(l) & 63)
	if *p == 0 {
		*e.word(sd.Sum, w>>6) &^= 1 << (w & 63)
	}
}

// nextUp returns the lowest non-empty level ≥ from, or noLevel.
func (e *Engine) nextUp(sd *bookSide, nwords uint32, from int32) int32 {
	if from < 0 {
		from = 0
	}
	w := uint32(from) >> 6
	if w >= nwords {
		return noLevel
	}
	if m := *e.word(sd.Bits, w) & (^uint64(0) << (uint32(from) & 63)); m != 0 {
		return int32(w<<6 + uint32(bits.TrailingZeros64(m)))
	}
	w++
	if w >= nwords {
		return noLevel
	}
	s := w >> 6
	nsum := (nwords + 63) >> 6
	m := *e.word(sd.Sum, s) & (^uint64(0) << (w & 63))
	for {
		if m != 0 {
			ww := s<<6 + uint32(bits.TrailingZeros64(m))
			return int32(ww<<6 + uint32(bits.TrailingZeros64(*e.word(sd.Bits, ww))))
		}
		s++
		if s >= nsum {
			return noLevel
		}
		m = *e.word(sd.Sum, s)
	}
}

// nextDown returns the highest non-empty level ≤ from, or noLevel.
func (e *Engine) nextDown(sd *bookSide, from int32) int32 {
	if from < 0 {
		return noLevel
	}
	w := uint32(from) >> 6
	if m := *e.word(sd.Bits, w) & (^uint64(0) >> (63 - uint32(from)&63)); m != 0 {
		return int32(w<<6 + 63 - uint32(bits.LeadingZeros64(m)))
	}
	if w == 0 {
		return noLevel
	}
	w--
	s := int32(w >> 6)
	m := *e.word(sd.Sum, uint32(s)) & (^uint64(0) >> (63 - w&63))
	for {
		if m != 0 {
			ww := uint32(s)<<6 + 63 - uint32(bits.LeadingZeros64(m))
			return int32(ww<<6 + 63 - uint32(bits.LeadingZeros64(*e.word(sd.Bits, ww))))
		}
		s--
		if s < 0 {
			return noLevel
		}
		m = *e.word(sd.Sum, uint32(s))
	}
}
