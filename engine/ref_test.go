package engine

// refEngine is the reference book for differential tests: maps and slices,
// linear scans, no arena, written to be obviously correct rather than fast.
// It implements docs/command-file.md's semantics and the engine's
// validation order independently of the engine's code.

type refOrder struct {
	id    OrderID
	acct  Account
	side  Side
	level int
	qty   Qty
	post  bool
}

type refBook struct {
	sym            Symbol
	tick, min, max Price
	levels         [2][][]*refOrder // [side][level] FIFO
	lastTrade      Price
}

type refKey struct {
	sym Symbol
	id  OrderID
}

type refEngine struct {
	maxOrders, maxSymbols, maxLevels, levelCap int
	books                                      map[Symbol]*refBook
	symbols                                    []Symbol
	live                                       map[refKey]*refOrder
	levelsUsed                                 int
	trades, tradedQty                          uint64
}

func newRef(cfg Config) *refEngine {
	cfg.EnsureDefaults()
	r := &refEngine{maxOrders: cfg.MaxOrders, maxSymbols: cfg.MaxSymbols, maxLevels: cfg.MaxLevels, levelCap: cfg.LevelCapacity,
		books: map[Symbol]*refBook{}, live: map[refKey]*refOrder{}}
	for _, s := range cfg.Symbols {
		if reason := r.define(s.Symbol, s.Tick, s.BandMin, s.BandMax); reason != ReasonNone {
			panic("reference: bad initial symbol")
		}
	}
	return r
}

func (r *refEngine) define(sym Symbol, tick, lo, hi Price) Reason {
	if !sym.Valid() || tick <= 0 || lo <= 0 || hi < lo || (hi-lo)%tick != 0 {
		return ReasonBadSymbol
	}
	n := int((hi-lo)/tick) + 1
	if n > r.maxLevels {
		return ReasonBadSymbol
	}
	if _, ok := r.books[sym]; ok {
		return ReasonDuplicateSymbol
	}
	if len(r.books) >= r.maxSymbols {
		return ReasonSymbolsFull
	}
	if r.levelsUsed+n > r.levelCap {
		return ReasonLevelsFull
	}
	b := &refBook{sym: sym, tick: tick, min: lo, max: hi}
	b.levels[0] = make([][]*refOrder, n)
	b.levels[1] = make([][]*refOrder, n)
	r.books[sym] = b
	r.symbols = append(r.symbols, sym)
	r.levelsUsed += n
	return ReasonNone
}

func (b *refBook) price(l int) Price { return b.min + Price(l)*b.tick }

// best returns the best level of side k (0 bids: highest; 1 asks: lowest)
// or -1.
func (b *refBook) best(k int) int {
	n := len(b.levels[k])
	if k == 0 {
		for l := n - 1; l >= 0; l-- {
			if len(b.levels[0][l]) > 0 {
				return l
			}
		}
		return -1
	}
	for l := 0; l < n; l++ {
		if len(b.levels[1][l]) > 0 {
			return l
		}
	}
	return -1
}

func (b *refBook) crosses(side Side, l int) bool {
	if side == Buy {
		a := b.best(1)
		return a >= 0 && a <= l
	}
	bb := b.best(0)
	return bb >= 0 && bb >= l
}

func (b *refBook) levelOf(p Price) (int, Reason) {
	if p < b.min || p > b.max {
		return 0, ReasonPriceOutOfBand
	}
	if (p-b.min)%b.tick != 0 {
		return 0, ReasonPriceOffTick
	}
	return int((p - b.min) / b.tick), ReasonNone
}

func (r *refEngine) apply(c *Command) []Event {
	rej := func(reason Reason) []Event {
		return []Event{{Kind: EvRejected, Reason: reason, Side: c.Side, Symbol: c.Symbol, ID: c.ID, Price: c.Price, Qty: c.Qty}}
	}
	switch c.Kind {
	case CmdDefineSymbol:
		if reason := r.define(c.Symbol, c.Tick, c.BandMin, c.BandMax); reason != ReasonNone {
			return []Event{{Kind: EvRejected, Reason: reason, Symbol: c.Symbol}}
		}
		return []Event{{Kind: EvAccepted, Symbol: c.Symbol}}
	case CmdNew:
		if (c.Side != Buy && c.Side != Sell) || (c.Type != Limit && c.Type != Market) || c.TIF < GTC || c.TIF > POST {
			return rej(ReasonInvalid)
		}
		b := r.books[c.Symbol]
		if b == nil {
			return rej(ReasonUnknownSymbol)
		}
		if c.Qty <= 0 {
			return rej(ReasonBadQty)
		}
		if c.Qty > MaxQty {
			return rej(ReasonQtyOverflow)
		}
		var lim int
		if c.Type == Market {
			if c.Price != 0 || c.TIF == POST {
				return rej(ReasonBadPrice)
			}
			lim = len(b.levels[0]) - 1
			if c.Side == Sell {
				lim = 0
			}
		} else {
			var reason Reason
			if lim, reason = b.levelOf(c.Price); reason != ReasonNone {
				return rej(reason)
			}
		}
		if r.live[refKey{c.Symbol, c.ID}] != nil {
			return rej(ReasonDuplicateOrder)
		}
		if c.TIF == POST && b.crosses(c.Side, lim) {
			return rej(ReasonWouldTrade)
		}
		rests := c.Type == Limit && (c.TIF == GTC || c.TIF == POST)
		if rests && len(r.live) >= r.maxOrders {
			return rej(ReasonOrdersFull)
		}
		out := []Event{{Kind: EvAccepted, Side: c.Side, Symbol: c.Symbol, ID: c.ID, Price: c.Price, Qty: c.Qty}}
		if c.TIF == FOK && r.fillable(b, c.Side, lim) < c.Qty {
			return append(out, Event{Kind: EvCancelled, Reason: ReasonFOKNotFillable, Side: c.Side, Symbol: c.Symbol, ID: c.ID, Price: c.Price, Qty: c.Qty})
		}
		var rem Qty
		out, rem = r.match(b, c.Side, c.ID, lim, c.Qty, out)
		if rem == 0 {
			return out
		}
		if !rests {
			reason := ReasonIOCRemainder
			if c.Type == Market {
				reason = ReasonMarketRemainder
			}
			return append(out, Event{Kind: EvCancelled, Reason: reason, Side: c.Side, Symbol: c.Symbol, ID: c.ID, Price: c.Price, Qty: rem})
		}
		o := &refOrder{id: c.ID, acct: c.Account, side: c.Side, level: lim, qty: rem, post: c.TIF == POST}
		k := int(c.Side - 1)
		b.levels[k][lim] = append(b.levels[k][lim], o)
		r.live[refKey{c.Symbol, c.ID}] = o
		return out
	case CmdCancel:
		b := r.books[c.Symbol]
		if b == nil {
			return rej(ReasonUnknownSymbol)
		}
		o := r.live[refKey{c.Symbol, c.ID}]
		if o == nil {
			return rej(ReasonUnknownOrder)
		}
		r.remove(b, o)
		delete(r.live, refKey{c.Symbol, c.ID})
		return []Event{{Kind: EvCancelled, Reason: ReasonCancelled, Side: o.side, Symbol: c.Symbol, ID: c.ID, Price: b.price(o.level), Qty: o.qty}}
	case CmdReplace:
		b := r.books[c.Symbol]
		if b == nil {
			return rej(ReasonUnknownSymbol)
		}
		o := r.live[refKey{c.Symbol, c.ID}]
		if o == nil {
			return rej(ReasonUnknownOrder)
		}
		if c.Qty <= 0 {
			return rej(ReasonBadQty)
		}
		if c.Qty > MaxQty {
			return rej(ReasonQtyOverflow)
		}
		nl, reason := b.levelOf(c.Price)
		if reason != ReasonNone {
			return rej(reason)
		}
		ev := Event{Kind: EvReplaced, Side: o.side, Symbol: c.Symbol, ID: c.ID, Price: c.Price, Qty: c.Qty}
		if nl == o.level && c.Qty <= o.qty {
			o.qty = c.Qty
			return []Event{ev}
		}
		if o.post && b.crosses(o.side, nl) {
			ev.Kind, ev.Reason = EvRejected, ReasonWouldTrade
			return []Event{ev}
		}
		r.remove(b, o)
		out, rem := r.match(b, o.side, o.id, nl, c.Qty, []Event{ev})
		if rem == 0 {
			delete(r.live, refKey{c.Symbol, c.ID})
			return out
		}
		o.qty, o.level = rem, nl
		k := int(o.side - 1)
		b.levels[k][nl] = append(b.levels[k][nl], o)
		return out
	}
	return rej(ReasonInvalid)
}

func (r *refEngine) remove(b *refBook, o *refOrder) {
	k := int(o.side - 1)
	q := b.levels[k][o.level]
	for i, x := range q {
		if x == o {
			b.levels[k][o.level] = append(q[:i:i], q[i+1:]...)
			return
		}
	}
	panic("reference: order not in its level")
}

func (r *refEngine) fillable(b *refBook, side Side, lim int) Qty {
	var got Qty
	for l := range b.levels[0] {
		if (side == Buy && l <= lim) || (side == Sell && l >= lim) {
			for _, o := range b.levels[2-int(side)][l] {
				got += o.qty
			}
		}
	}
	return got
}

func (r *refEngine) match(b *refBook, side Side, id OrderID, lim int, rem Qty, out []Event) ([]Event, Qty) {
	opp := 1
	if side == Sell {
		opp = 0
	}
	for rem > 0 {
		l := b.best(opp)
		if l < 0 || (side == Buy && l > lim) || (side == Sell && l < lim) {
			break
		}
		for rem > 0 && len(b.levels[opp][l]) > 0 {
			m := b.levels[opp][l][0]
			q := min(rem, m.qty)
			out = append(out, Event{Kind: EvTrade, Side: side, Symbol: b.sym, ID: id, Maker: m.id, Price: b.price(l), Qty: q})
			rem -= q
			m.qty -= q
			r.trades++
			r.tradedQty += uint64(q)
			b.lastTrade = b.price(l)
			if m.qty == 0 {
				b.levels[opp][l] = b.levels[opp][l][1:]
				delete(r.live, refKey{b.sym, m.id})
			}
		}
	}
	return out, rem
}

// orders lists side's resting orders best first, as Engine.Orders does.
func (r *refEngine) orders(sym Symbol, side Side) []OrderInfo {
	b := r.books[sym]
	if b == nil {
		return nil
	}
	k := int(side - 1)
	var out []OrderInfo
	n := len(b.levels[k])
	for i := 0; i < n; i++ {
		l := i
		if k == 0 {
			l = n - 1 - i
		}
		for _, o := range b.levels[k][l] {
			out = append(out, OrderInfo{Symbol: sym, ID: o.id, Account: o.acct, Side: o.side, Price: b.price(l), Qty: o.qty, PostOnly: o.post})
		}
	}
	return out
}
