package engine

import (
	"errors"
	"fmt"
	"math"
)

// Price is a price in integer ticks of the quote currency's smallest unit.
// Limit prices are positive; market orders carry price 0.
type Price int64

// Qty is a quantity in integer lots.
type Qty int64

// MaxQty is the largest quantity an order or a replace may carry. Larger
// quantities are rejected with ReasonQtyOverflow, which keeps every level
// total and counter far from int64 overflow (remaining quantities are stored
// in 32 bits in the arena).
const MaxQty Qty = math.MaxUint32

// OrderID is the sender-chosen order identifier, unique among the live
// orders of one symbol.
type OrderID uint64

// Account identifies the owner of an order.
type Account uint32

// Symbol is an instrument name of 1 to 8 bytes from [A-Za-z0-9._-], packed
// little-endian into an integer (first byte lowest) and zero padded, so it
// is compared and hashed as one machine word.
type Symbol uint64

// MaxSymbolLen is the longest symbol name.
const MaxSymbolLen = 8

// ErrBadSymbol is returned by ParseSymbol when a name is empty, longer than
// MaxSymbolLen or holds a byte outside [A-Za-z0-9._-].
var ErrBadSymbol = errors.New("engine: bad symbol name")

func symbolByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// ParseSymbol packs a symbol name.
func ParseSymbol(name string) (Symbol, error) {
	if len(name) == 0 || len(name) > MaxSymbolLen {
		return 0, fmt.Errorf("%w: %q", ErrBadSymbol, name)
	}
	var s Symbol
	for i := 0; i < len(name); i++ {
		if !symbolByte(name[i]) {
			return 0, fmt.Errorf("%w: %q", ErrBadSymbol, name)
		}
		s |= Symbol(name[i]) << (8 * i)
	}
	return s, nil
}

// MustSymbol is ParseSymbol for constant names in programs and tests; it
// panics on a bad name, so never call it on input.
func MustSymbol(name string) Symbol {
	s, err := ParseSymbol(name)
	if err != nil {
		panic(err)
	}
	return s
}

// Valid reports whether s is the packing of a valid name: 1 to 8 name
// bytes followed only by zero bytes.
func (s Symbol) Valid() bool {
	if s == 0 {
		return false
	}
	end := false
	for i := 0; i < MaxSymbolLen; i++ {
		c := byte(s >> (8 * i))
		switch {
		case c == 0:
			end = true
		case end || !symbolByte(c):
			return false
		}
	}
	return true
}

// String returns the name, or a hex form for an invalid packing.
func (s Symbol) String() string {
	var b [MaxSymbolLen]byte
	n := 0
	for ; n < MaxSymbolLen; n++ {
		c := byte(s >> (8 * n))
		if c == 0 {
			break
		}
		b[n] = c
	}
	if !s.Valid() {
		return fmt.Sprintf("Symbol(%#x)", uint64(s))
	}
	return string(b[:n])
}

// Side is the side of an order.
type Side uint8

// Sides. The zero value is invalid so that an unset field is caught.
const (
	Buy  Side = 1
	Sell Side = 2
)

// String returns the command-file letter: B or S.
func (s Side) String() string {
	switch s {
	case Buy:
		return "B"
	case Sell:
		return "S"
	}
	return fmt.Sprintf("Side(%d)", uint8(s))
}

// OrderType is limit or market.
type OrderType uint8

// Order types.
const (
	Limit  OrderType = 1
	Market OrderType = 2
)

// String returns the command-file letter: L or M.
func (t OrderType) String() string {
	switch t {
	case Limit:
		return "L"
	case Market:
		return "M"
	}
	return fmt.Sprintf("OrderType(%d)", uint8(t))
}

// TIF is an order's time in force.
type TIF uint8

// Times in force.
const (
	// GTC rests whatever does not trade on arrival (a market order never
	// rests: its remainder is cancelled).
	GTC TIF = 1
	// IOC trades what it can on arrival; the remainder is cancelled.
	IOC TIF = 2
	// FOK trades its whole quantity on arrival or nothing at all.
	FOK TIF = 3
	// POST (post-only) rests without trading; it is rejected if it would
	// trade on arrival.
	POST TIF = 4
)

// String returns the command-file name: GTC, IOC, FOK or POST.
func (t TIF) String() string {
	switch t {
	case GTC:
		return "GTC"
	case IOC:
		return "IOC"
	case FOK:
		return "FOK"
	case POST:
		return "POST"
	}
	return fmt.Sprintf("TIF(%d)", uint8(t))
}

// CommandKind says what a Command does.
type CommandKind uint8

// Command kinds; the letters are those of the command file.
const (
	CmdDefineSymbol CommandKind = 'S'
	CmdNew          CommandKind = 'N'
	CmdCancel       CommandKind = 'C'
	CmdReplace      CommandKind = 'R'
)

// String returns the command-file letter.
func (k CommandKind) String() string {
	switch k {
	case CmdDefineSymbol, CmdNew, CmdCancel, CmdReplace:
		return string(rune(k))
	}
	return fmt.Sprintf("CommandKind(%d)", uint8(k))
}

// Command is one input to the engine. Which fields matter depends on Kind:
//
//	S: Symbol, Tick, BandMin, BandMax
//	N: Symbol, ID, Account, Side, Type, TIF, Price (0 for market), Qty
//	C: Symbol, ID
//	R: Symbol, ID, Price (new price), Qty (new remaining quantity)
//
// Every other field is zero. The struct holds no pointers, so a slice of
// commands costs the garbage collector nothing.
type Command struct {
	Kind    CommandKind
	Side    Side
	Type    OrderType
	TIF     TIF
	Account Account
	Symbol  Symbol
	ID      OrderID
	Price   Price
	Qty     Qty
	Tick    Price
	BandMin Price
	BandMax Price
}

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	// EvAccepted: a symbol was defined (ID 0) or a new order passed
	// validation (Price, Qty and Side as submitted). Trades and at most one
	// Cancelled for the same order may follow.
	EvAccepted EventKind = 1
	// EvRejected: the command changed nothing; Reason says why.
	EvRejected EventKind = 2
	// EvTrade: Qty traded at Price (the maker's price) between the resting
	// order Maker and the incoming order ID; Side is the taker's side.
	EvTrade EventKind = 3
	// EvCancelled: Qty of order ID left the book or was never booked;
	// Reason is ReasonCancelled for a C command, otherwise the reason the
	// engine removed the remainder.
	EvCancelled EventKind = 4
	// EvReplaced: order ID now has price Price and remaining quantity Qty.
	// Trades may follow if the new price crosses.
	EvReplaced EventKind = 5
)

// String returns a lower-case name.
func (k EventKind) String() string {
	switch k {
	case EvAccepted:
		return "accepted"
	case EvRejected:
		return "rejected"
	case EvTrade:
		return "trade"
	case EvCancelled:
		return "cancelled"
	case EvReplaced:
		return "replaced"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Reason explains a rejection or a cancellation.
type Reason uint8

// Reasons. Rejections come first, then cancellation reasons. Values are
// stable: they appear in logs and outside tools.
const (
	ReasonNone Reason = iota
	// ReasonInvalid: a field holds a value outside its enumeration (side,
	// type, time in force, command kind) or a field that must be zero is not.
	ReasonInvalid
	// ReasonUnknownSymbol: no symbol of that name is defined.
	ReasonUnknownSymbol
	// ReasonUnknownOrder: no live order with that id on that symbol (never
	// existed, already filled or cancelled).
	ReasonUnknownOrder
	// ReasonDuplicateOrder: a live order of that symbol has the same id.
	ReasonDuplicateOrder
	// ReasonDuplicateSymbol: the symbol is already defined.
	ReasonDuplicateSymbol
	// ReasonBadSymbol: an S command whose name, tick or band is invalid
	// (tick ≤ 0, band_min ≤ 0, band_max < band_min, band not a whole number
	// of ticks) or whose band holds more levels than Config.MaxLevels.
	ReasonBadSymbol
	// ReasonBadQty: quantity ≤ 0.
	ReasonBadQty
	// ReasonQtyOverflow: quantity > MaxQty.
	ReasonQtyOverflow
	// ReasonBadPrice: a market order with a price other than 0, or a market
	// order that is post-only.
	ReasonBadPrice
	// ReasonPriceOutOfBand: a limit price outside [band_min, band_max].
	ReasonPriceOutOfBand
	// ReasonPriceOffTick: a limit price not band_min plus a whole number of
	// ticks.
	ReasonPriceOffTick
	// ReasonWouldTrade: a post-only order (or a replace of one) would trade.
	ReasonWouldTrade
	// ReasonOrdersFull: the order pool is full and the order could rest.
	ReasonOrdersFull
	// ReasonSymbolsFull: Config.MaxSymbols symbols are already defined.
	ReasonSymbolsFull
	// ReasonLevelsFull: the symbol's band does not fit in the remaining
	// Config.LevelCapacity.
	ReasonLevelsFull
)

// Cancellation reasons.
const (
	// ReasonCancelled: cancelled by a C command.
	ReasonCancelled Reason = 32 + iota
	// ReasonIOCRemainder: what an IOC order could not trade on arrival.
	ReasonIOCRemainder
	// ReasonMarketRemainder: what a market order could not trade.
	ReasonMarketRemainder
	// ReasonFOKNotFillable: a FOK order that could not trade in full; it
	// did not trade at all.
	ReasonFOKNotFillable
)

var reasonNames = map[Reason]string{
	ReasonNone:            "none",
	ReasonInvalid:         "invalid",
	ReasonUnknownSymbol:   "unknown-symbol",
	ReasonUnknownOrder:    "unknown-order",
	ReasonDuplicateOrder:  "duplicate-order",
	ReasonDuplicateSymbol: "duplicate-symbol",
	ReasonBadSymbol:       "bad-symbol",
	ReasonBadQty:          "bad-qty",
	ReasonQtyOverflow:     "qty-overflow",
	ReasonBadPrice:        "bad-price",
	ReasonPriceOutOfBand:  "price-out-of-band",
	ReasonPriceOffTick:    "price-off-tick",
	ReasonWouldTrade:      "would-trade",
	ReasonOrdersFull:      "orders-full",
	ReasonSymbolsFull:     "symbols-full",
	ReasonLevelsFull:      "levels-full",
	ReasonCancelled:       "cancelled",
	ReasonIOCRemainder:    "ioc-remainder",
	ReasonMarketRemainder: "market-remainder",
	ReasonFOKNotFillable:  "fok-not-fillable",
}

// String returns a stable kebab-case name, as used in docs and tools.
func (r Reason) String() string {
	if s, ok := reasonNames[r]; ok {
		return s
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// Event is one output of the engine. Fields a kind does not use are zero.
// Like Command it holds no pointers.
//
// Slot is the order pool slot (1..MaxOrders) of the resting order the event
// is about: for EvAccepted, the new order's if it rests once the command is
// done (0 if it left at once: filled, or an IOC or FOK remainder); for
// EvTrade, the maker's; for EvCancelled of a cancel command and for
// EvReplaced, the order's (a replace keeps the slot). Every other event has
// 0. An order keeps its slot while it rests; after it leaves the book the
// slot goes to a later order. A caller can keep data per resting order in
// an array indexed by slot, set when EvAccepted names a slot, and read it
// for the events of that order with no lookup by id. Slot is not part of
// the event hash.
type Event struct {
	Kind   EventKind
	Reason Reason
	Side   Side
	Slot   uint32
	Symbol Symbol
	ID     OrderID
	Maker  OrderID
	Price  Price
	Qty    Qty
}

// String formats the event for logs and test failures.
func (ev Event) String() string {
	switch ev.Kind {
	case EvTrade:
		return fmt.Sprintf("trade %s maker=%d taker=%d %s %d@%d", ev.Symbol, ev.Maker, ev.ID, ev.Side, ev.Qty, ev.Price)
	case EvRejected, EvCancelled:
		return fmt.Sprintf("%s %s id=%d %s %s %d@%d", ev.Kind, ev.Symbol, ev.ID, ev.Reason, ev.Side, ev.Qty, ev.Price)
	}
	return fmt.Sprintf("%s %s id=%d %s %d@%d", ev.Kind, ev.Symbol, ev.ID, ev.Side, ev.Qty, ev.Price)
}
