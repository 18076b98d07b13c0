package perf

import "github.com/cowbook/cowbook/engine"

// naiveBook is the ceiling the engine is compared with: an array book for
// one symbol with no validation, no capacity checks, no events, no hash,
// orders indexed directly by id (ids must be small and dense, as the
// generator makes them) and a linear scan for the next best level. It
// implements the same matching rules, so on a generated workload it does
// the same work minus everything that makes the engine safe and
// checkable.
type naiveBook struct {
	min, tick        engine.Price
	levels           [2][]naiveLevel
	orders           []naiveOrder
	bestBid, bestAsk int
	trades           uint64
}

type naiveLevel struct {
	qty        engine.Qty
	head, tail int32
}

type naiveOrder struct {
	qty        engine.Qty
	level      int32
	prev, next int32
	side       int8
}

func newNaiveBook(min, max, tick engine.Price, maxID int) *naiveBook {
	n := int((max-min)/tick) + 1
	b := &naiveBook{min: min, tick: tick, orders: make([]naiveOrder, maxID+1), bestBid: -1, bestAsk: n}
	b.levels[0] = make([]naiveLevel, n)
	b.levels[1] = make([]naiveLevel, n)
	for k := range b.levels {
		for i := range b.levels[k] {
			b.levels[k][i].head, b.levels[k][i].tail = -1, -1
		}
	}
	return b
}

func (b *naiveBook) apply(c *engine.Command) {
	switch c.Kind {
	case engine.CmdNew:
		k := int(c.Side - 1)
		lim := len(b.levels[0]) - 1
		if k == 1 {
			lim = 0
		}
		if c.Type == engine.Limit {
			lim = int((c.Price - b.min) / b.tick)
		}
		if c.TIF == engine.POST && b.crosses(k, lim) {
			return
		}
		if c.TIF == engine.FOK && b.fillable(k, lim) < c.Qty {
			return
		}
		rem := b.match(k, lim, c.Qty)
		if rem > 0 && c.Type == engine.Limit && (c.TIF == engine.GTC || c.TIF == engine.POST) {
			b.rest(int32(c.ID), k, lim, rem)
		}
	case engine.CmdCancel:
		o := &b.orders[c.ID]
		if o.qty > 0 {
			b.unlink(int32(c.ID))
			o.qty = 0
		}
	case engine.CmdReplace:
		id := int32(c.ID)
		o := &b.orders[id]
		if o.qty == 0 {
			return
		}
		nl := int((c.Price - b.min) / b.tick)
		if nl == int(o.level) && c.Qty <= o.qty {
			b.levels[o.side][nl].qty -= o.qty - c.Qty
			o.qty = c.Qty
			return
		}
		k := int(o.side)
		b.unlink(id)
		o.qty = 0
		if rem := b.match(k, nl, c.Qty); rem > 0 {
			b.rest(id, k, nl, rem)
		}
	}
}

func (b *naiveBook) crosses(k, l int) bool {
	if k == 0 {
		return b.bestAsk <= l
	}
	return b.bestBid >= l
}

func (b *naiveBook) fillable(k, lim int) engine.Qty {
	var q engine.Qty
	if k == 0 {
		for l := b.bestAsk; l <= lim && l < len(b.levels[1]); l++ {
			q += b.levels[1][l].qty
		}
	} else {
		for l := b.bestBid; l >= lim && l >= 0; l-- {
			q += b.levels[0][l].qty
		}
	}
	return q
}

func (b *naiveBook) match(k, lim int, rem engine.Qty) engine.Qty {
	opp := 1 - k
	for rem > 0 && b.crosses(k, lim) {
		l := b.bestAsk
		if k == 1 {
			l = b.bestBid
		}
		lv := &b.levels[opp][l]
		for rem > 0 && lv.head >= 0 {
			id := lv.head
			m := &b.orders[id]
			q := min(rem, m.qty)
			rem -= q
			b.trades++
			if q == m.qty {
				b.unlink(id)
				m.qty = 0
			} else {
				m.qty -= q
				lv.qty -= q
			}
		}
	}
	return rem
}

func (b *naiveBook) rest(id int32, k, l int, qty engine.Qty) {
	lv := &b.levels[k][l]
	b.orders[id] = naiveOrder{qty: qty, level: int32(l), prev: lv.tail, next: -1, side: int8(k)}
	if lv.tail >= 0 {
		b.orders[lv.tail].next = id
	} else {
		lv.head = id
	}
	lv.tail = id
	lv.qty += qty
	if k == 0 && l > b.bestBid {
		b.bestBid = l
	}
	if k == 1 && l < b.bestAsk {
		b.bestAsk = l
	}
}

func (b *naiveBook) unlink(id int32) {
	o := &b.orders[id]
	lv := &b.levels[o.side][o.level]
	if o.prev >= 0 {
		b.orders[o.prev].next = o.next
	} else {
		lv.head = o.next
	}
	if o.next >= 0 {
		b.orders[o.next].prev = o.prev
	} else {
		lv.tail = o.prev
	}
	lv.qty -= o.qty
	if lv.head < 0 {
		// Linear scan for the next best level: the naive part.
		if o.side == 0 && int(o.level) == b.bestBid {
			for b.bestBid >= 0 && b.levels[0][b.bestBid].head < 0 {
				b.bestBid--
			}
		}
		if o.side == 1 && int(o.level) == b.bestAsk {
			for b.bestAsk < len(b.levels[1]) && b.levels[1][b.bestAsk].head < 0 {
				b.bestAsk++
			}
		}
	}
}
