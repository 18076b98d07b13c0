package engine

import "math/bits"

// The order-id index maps (symbol, order id) to an order slot. It is an
// open-addressing table with linear probing inside the arena, with a
// parallel array of one-byte tags (0 = empty, else 0x80 | 7 bits of the
// hash) probed first, as Swiss tables do: the tags of a book's index fit in
// the core's L2 cache, so the duplicate-id check of a new order and most
// probe steps never touch the 8-byte entries. The arena
// reserves IndexCap = the power of two ≥ 2×MaxOrders entries, but only the
// first IndexActive are in use: the table starts small and doubles, with
// every live order rehashed, when an insert would take the load above one
// half. A sparse table of the full size would spread a few thousand orders
// over megabytes, one cache miss per lookup; sized to the book, it stays in
// cache. Doubling happens at most log2(IndexCap/64) times in an arena's
// life (it never shrinks) and costs about ten nanoseconds per live order. Each entry is one word: the low 32 bits hold the order slot (0 =
// empty), the high 32 bits the key's 32-bit hash. The hash both picks the
// home bucket (hash & mask) and filters probes before the pool record is
// read. Deletion shifts later entries of the cluster back (no tombstones),
// so probe lengths depend only on the live orders, never on history.

func orderHash(sym uint32, id OrderID) uint32 {
	x := uint64(id) ^ uint64(sym)*0x9E3779B97F4A7C15
	x ^= x >> 32
	x *= 0xD6E8FEB86659FD93
	x ^= x >> 32
	x *= 0xD6E8FEB86659FD93
	x ^= x >> 32
	return uint32(x)
}

// findOrder returns the slot of the live order (sym, id) and its index
// position, or slot 0 and the empty position where it would be inserted.
func (e *Engine) findOrder(sym uint32, id OrderID, h uint32) (slot, pos uint32) {
	mask := e.idxMask
	tag := tagOf(h)
	pos = h & mask
	for {
		t := *e.tag(pos)
		if t == 0 {
			return 0, pos
		}
		if t == tag {
			ent := *e.idx(pos)
			if uint32(ent>>32) == h {
				s := uint32(ent)
				o := e.ord(s)
				if o.ID == uint64(id) && uint32(o.Sym) == sym {
					return s, pos
				}
			}
		}
		pos = (pos + 1) & mask
	}
}

// tagOf is the tag byte of a hash: bits the home bucket does not use (for
// tables up to 2^25 entries), never 0.
func tagOf(h uint32) uint8 { return uint8(h>>25) | 0x80 }

// growIndex doubles the in-use index and reinserts every live order, in
// slot order so that the result depends only on the arena.
func (e *Engine) growIndex() {
	h := e.h
	n := h.IndexActive * 2
	for i := uint32(0); i < n; i++ {
		*e.idx(i) = 0
		*e.tag(i) = 0
	}
	h.IndexActive = n
	e.idxMask = n - 1
	for slot := uint32(1); slot <= h.PoolHigh; slot++ {
		o := e.ord(slot)
		if o.Side == 0 {
			continue
		}
		hh := orderHash(uint32(o.Sym), OrderID(o.ID))
		_, pos := e.findOrder(uint32(o.Sym), OrderID(o.ID), hh)
		e.indexPut(pos, hh, slot)
	}
}

func (e *Engine) indexPut(pos, h, slot uint32) {
	*e.idx(pos) = uint64(h)<<32 | uint64(slot)
	*e.tag(pos) = tagOf(h)
}

// indexDelete empties position pos and shifts back the entries after it in
// its cluster whose home bucket allows it (backward-shift deletion).
func (e *Engine) indexDelete(pos uint32) {
	mask := e.idxMask
	hole := pos
	j := pos
	for {
		j = (j + 1) & mask
		t := *e.tag(j)
		if t == 0 {
			break
		}
		ent := *e.idx(j)
		home := uint32(ent>>32) & mask
		// The entry at j may fill the hole if its home is not in (hole, j].
		if (j-home)&mask >= (j-hole)&mask {
			*e.idx(hole) = ent
			*e.tag(hole) = t
			hole = j
		}
	}
	*e.idx(hole) = 0
	*e.tag(hole) = 0
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
