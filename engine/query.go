package engine

// Read-only queries for tools, tests and market-data publishers. They do
// not change the arena; the ones returning slices allocate and are not
// meant for the hot path.

// SymbolInfo describes a defined symbol.
type SymbolInfo struct {
	Symbol  Symbol
	Tick    Price
	BandMin Price
	BandMax Price
	Levels  int
}

// Level is one aggregated price level.
type Level struct {
	Price  Price
	Qty    Qty
	Orders int
}

// OrderInfo is a resting order.
type OrderInfo struct {
	Symbol   Symbol
	ID       OrderID
	Account  Account
	Side     Side
	Price    Price
	Qty      Qty // remaining
	PostOnly bool
}

// Stats are the engine-wide counters kept in the arena header.
type Stats struct {
	Commands      uint64 // commands applied, rejected ones included
	Events        uint64
	Accepted      uint64 // EvAccepted events (orders and symbols)
	Rejects       uint64
	Trades        uint64
	TradedQty     uint64
	Cancels       uint64 // EvCancelled events, whatever the reason
	Replaces      uint64
	RestingOrders int
	BidQty        Qty // resting quantity, all symbols
	AskQty        Qty
	Symbols       int
	MaxOrders     int
	// IndexSize is the number of entries of the order-id index table in
	// use; IndexDraining is the size of the previous table while its
	// entries migrate into it, a few per command (0 when none).
	IndexSize     int
	IndexDraining int
}

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	h := e.h
	return Stats{
		Commands: h.Commands, Events: h.Events, Accepted: h.Accepted, Rejects: h.Rejects,
		Trades: h.Trades, TradedQty: h.TradedQty, Cancels: h.Cancels, Replaces: h.Replaces,
		RestingOrders: int(h.Live), BidQty: Qty(h.BidQty), AskQty: Qty(h.AskQty),
		Symbols: int(h.NSymbols), MaxOrders: int(h.MaxOrders),
		IndexSize: int(h.IndexActive), IndexDraining: int(h.IndexOld),
	}
}

// Symbols lists the defined symbols in definition order.
func (e *Engine) Symbols() []SymbolInfo {
	out := make([]SymbolInfo, 0, e.h.NSymbols)
	for i := uint32(0); i < e.h.NSymbols; i++ {
		s := e.sym(i)
		out = append(out, SymbolInfo{Symbol: Symbol(s.Name), Tick: Price(s.Tick), BandMin: Price(s.BandMin), BandMax: Price(s.BandMax), Levels: int(s.NLevels)})
	}
	return out
}

func (e *Engine) lookup(sym Symbol) (*symbol, bool) {
	i, ok := e.findSymbol(sym)
	if !ok {
		return nil, false
	}
	return e.sym(i), true
}

func (e *Engine) levelAt(s *symbol, k int, l int32) Level {
	lv := e.lvl(&s.Side[k], l)
	return Level{Price: levelPrice(s, uint32(l)), Qty: Qty(lv.Qty), Orders: int(lv.Count)}
}

// BestBid returns the highest bid level of sym; false if sym is unknown or
// has no bids.
func (e *Engine) BestBid(sym Symbol) (Level, bool) {
	s, ok := e.lookup(sym)
	if !ok || s.Side[0].Best < 0 {
		return Level{}, false
	}
	return e.levelAt(s, 0, s.Side[0].Best), true
}

// BestAsk returns the lowest ask level of sym; false if sym is unknown or
// has no asks.
func (e *Engine) BestAsk(sym Symbol) (Level, bool) {
	s, ok := e.lookup(sym)
	if !ok || s.Side[1].Best < 0 {
		return Level{}, false
	}
	return e.levelAt(s, 1, s.Side[1].Best), true
}

// LastTrade returns the price of sym's last trade; false before the first.
func (e *Engine) LastTrade(sym Symbol) (Price, bool) {
	s, ok := e.lookup(sym)
	if !ok || s.Trades == 0 {
		return 0, false
	}
	return Price(s.LastTrade), true
}

// Depth returns up to n levels per side of sym, best first (n ≤ 0: all).
func (e *Engine) Depth(sym Symbol, n int) (bids, asks []Level) {
	s, ok := e.lookup(sym)
	if !ok {
		return nil, nil
	}
	for l := s.Side[0].Best; l >= 0 && (n <= 0 || len(bids) < n); l = e.nextDown(&s.Side[0], l-1) {
		bids = append(bids, e.levelAt(s, 0, l))
	}
	for l := s.Side[1].Best; l >= 0 && (n <= 0 || len(asks) < n); l = e.nextUp(&s.Side[1], s.Words, l+1) {
		asks = append(asks, e.levelAt(s, 1, l))
	}
	return bids, asks
}

// BookSide returns the resting quantity and order count of one side of sym.
func (e *Engine) BookSide(sym Symbol, side Side) (qty Qty, orders int) {
	s, ok := e.lookup(sym)
	if !ok || (side != Buy && side != Sell) {
		return 0, 0
	}
	sd := &s.Side[sideIndex(side)]
	return Qty(sd.Qty), int(sd.Orders)
}

// Order returns the live order id of sym.
func (e *Engine) Order(sym Symbol, id OrderID) (OrderInfo, bool) {
	si, ok := e.findSymbol(sym)
	if !ok {
		return OrderInfo{}, false
	}
	slot, _ := e.findOrder(si, id, orderHash(si, id))
	if slot == 0 {
		return OrderInfo{}, false
	}
	return e.orderInfo(e.sym(si), slot), true
}

func (e *Engine) orderInfo(s *symbol, slot uint32) OrderInfo {
	o := e.ord(slot)
	return OrderInfo{Symbol: Symbol(s.Name), ID: OrderID(o.ID), Account: Account(o.Account), Side: Side(o.Side),
		Price: levelPrice(s, o.Level), Qty: Qty(o.Qty), PostOnly: o.Flags&flagPost != 0}
}

// Orders returns every resting order of one side of sym in priority order
// (best price first, then time).
func (e *Engine) Orders(sym Symbol, side Side) []OrderInfo {
	s, ok := e.lookup(sym)
	if !ok || (side != Buy && side != Sell) {
		return nil
	}
	k := sideIndex(side)
	sd := &s.Side[k]
	var out []OrderInfo
	for l := sd.Best; l >= 0; {
		for slot := e.lvl(sd, l).Head; slot != 0; slot = e.ord(slot).Next {
			out = append(out, e.orderInfo(s, slot))
		}
		if k == 0 {
			l = e.nextDown(sd, l-1)
		} else {
			l = e.nextUp(sd, s.Words, l+1)
		}
	}
	return out
}

// SymbolStats are one symbol's book totals and trade counters.
type SymbolStats struct {
	BidOrders, AskOrders int
	BidQty, AskQty       Qty
	Trades               uint64
	TradedQty            uint64
	LastTrade            Price // 0 before the first trade
}

// SymbolStats returns sym's totals; false if sym is unknown.
func (e *Engine) SymbolStats(sym Symbol) (SymbolStats, bool) {
	s, ok := e.lookup(sym)
	if !ok {
		return SymbolStats{}, false
	}
	return SymbolStats{
		BidOrders: int(s.Side[0].Orders), AskOrders: int(s.Side[1].Orders),
		BidQty: Qty(s.Side[0].Qty), AskQty: Qty(s.Side[1].Qty),
		Trades: s.Trades, TradedQty: s.TradedQty, LastTrade: Price(s.LastTrade),
	}, true
}

// Span is a byte range [Off, Off+Len) of the arena.
type Span struct {
	Off, Len int
}

// IndexSpans appends to dst the spans of the arena that hold the order-id
// index in use: the entries and the tags of the insert table and, while a
// migration drains it, of the previous table (the two are adjacent). Hashed
// ids spread the index's writes evenly over these bytes, so a workload of a
// few thousand new orders writes to every page of them; a fork-based
// snapshot taker copies these pages for the engine at once, on another
// thread, rather than letting each write take a copy-on-write fault
// (cow.Meta.Hot). Everything else the engine writes is near the prices and
// pool slots in use.
func (e *Engine) IndexSpans(dst []Span) []Span {
	h := e.h
	lo := h.IndexActive // first table position in use
	if h.IndexOld != 0 {
		lo = h.IndexOld
	}
	n := int(2*h.IndexActive - lo) // positions [lo, 2×IndexActive)
	return append(dst,
		Span{Off: int(h.IndexOff) + 8*int(lo), Len: 8 * n},
		Span{Off: int(h.TagOff) + int(lo), Len: n})
}
