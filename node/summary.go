package node

import (
	"github.com/cowbook/cowbook/engine"
)

// Level is one aggregated price level in tool output.
type Level struct {
	Price  int64 `json:"price"`
	Qty    int64 `json:"qty"`
	Orders int   `json:"orders"`
}

func levels(in []engine.Level) []Level {
	out := make([]Level, len(in))
	for i, l := range in {
		out[i] = Level{Price: int64(l.Price), Qty: int64(l.Qty), Orders: l.Orders}
	}
	return out
}

// BookSummary describes one symbol's book.
type BookSummary struct {
	Symbol    string  `json:"symbol"`
	BestBid   *Level  `json:"best_bid,omitempty"`
	BestAsk   *Level  `json:"best_ask,omitempty"`
	Bids      []Level `json:"bids"`
	Asks      []Level `json:"asks"`
	BidOrders int     `json:"bid_orders"`
	AskOrders int     `json:"ask_orders"`
	LastTrade int64   `json:"last_trade,omitempty"`
}

// StateSummary is what tools print about an engine state: sequence,
// hashes, counters and each symbol's book to a given depth.
type StateSummary struct {
	Seq           uint64        `json:"seq"`
	StateHash     uint64        `json:"state_hash"`
	EventHash     uint64        `json:"event_hash"`
	RestingOrders int           `json:"resting_orders"`
	Commands      uint64        `json:"commands"`
	Trades        uint64        `json:"trades"`
	Books         []BookSummary `json:"books"`
}

// Summarize describes e with up to depth levels per side (≤ 0: all).
func Summarize(e *engine.Engine, depth int) StateSummary {
	st := e.Stats()
	s := StateSummary{Seq: e.LastSeq(), StateHash: e.Checksum(), EventHash: e.EventHash(),
		RestingOrders: st.RestingOrders, Commands: st.Commands, Trades: st.Trades}
	for _, si := range e.Symbols() {
		b := BookSummary{Symbol: si.Symbol.String()}
		if l, ok := e.BestBid(si.Symbol); ok {
			b.BestBid = &levels([]engine.Level{l})[0]
		}
		if l, ok := e.BestAsk(si.Symbol); ok {
			b.BestAsk = &levels([]engine.Level{l})[0]
		}
		bids, asks := e.Depth(si.Symbol, depth)
		b.Bids, b.Asks = levels(bids), levels(asks)
		_, b.BidOrders = e.BookSide(si.Symbol, engine.Buy)
		_, b.AskOrders = e.BookSide(si.Symbol, engine.Sell)
		if p, ok := e.LastTrade(si.Symbol); ok {
			b.LastTrade = int64(p)
		}
		s.Books = append(s.Books, b)
	}
	return s
}
