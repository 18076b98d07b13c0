package wire

import "fmt"

// Side of an order.
type Side uint8

// Sides.
const (
	Buy  Side = 1
	Sell Side = 2
)

func (s Side) valid() bool { return s == Buy || s == Sell }

// String returns "B" or "S", the letters of the command file.
func (s Side) String() string {
	switch s {
	case Buy:
		return "B"
	case Sell:
		return "S"
	}
	return fmt.Sprintf("side(%d)", uint8(s))
}

// OrderType of a new order.
type OrderType uint8

// Order types.
const (
	Limit  OrderType = 1
	Market OrderType = 2
)

func (t OrderType) valid() bool { return t == Limit || t == Market }

// String returns "L" or "M", the letters of the command file.
func (t OrderType) String() string {
	switch t {
	case Limit:
		return "L"
	case Market:
		return "M"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// TIF is an order's time in force.
type TIF uint8

// Times in force (DESIGN §3.1).
const (
	GTC  TIF = 1 // rests until cancelled
	IOC  TIF = 2 // trades what it can, the rest is cancelled
	FOK  TIF = 3 // trades fully or not at all
	POST TIF = 4 // post-only: rejected if it would trade
)

func (t TIF) valid() bool { return t >= GTC && t <= POST }

// String returns the command file's spelling.
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
	return fmt.Sprintf("tif(%d)", uint8(t))
}

// HelloStatus is the server's answer to a Hello.
type HelloStatus uint8

// Handshake outcomes.
const (
	// HelloReady: the server accepts orders.
	HelloReady HelloStatus = 1
	// HelloRecovering: the node is recovering; the connection stays open,
	// status queries and heartbeats are answered, orders are rejected with
	// ReasonNotReady until the node is ready.
	HelloRecovering HelloStatus = 2
	// HelloVersionUnsupported: the server does not speak the client's
	// version; ServerHello.Version holds the one it speaks. An Error frame
	// follows and the server closes the connection.
	HelloVersionUnsupported HelloStatus = 3
)

func (s HelloStatus) valid() bool { return s >= HelloReady && s <= HelloVersionUnsupported }

// String names the status.
func (s HelloStatus) String() string {
	switch s {
	case HelloReady:
		return "ready"
	case HelloRecovering:
		return "recovering"
	case HelloVersionUnsupported:
		return "version_unsupported"
	}
	return fmt.Sprintf("hello_status(%d)", uint8(s))
}

// State is the node's state in a Status reply.
type State uint8

// Node states.
const (
	StateReady      State = 1
	StateRecovering State = 2
	StateStopping   State = 3
)

func (s State) valid() bool { return s >= StateReady && s <= StateStopping }

// String names the state.
func (s State) String() string {
	switch s {
	case StateReady:
		return "ready"
	case StateRecovering:
		return "recovering"
	case StateStopping:
		return "stopping"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// CancelReason says why an order left the book without trading fully.
type CancelReason uint8

// Cancel reasons.
const (
	CancelRequested       CancelReason = 1 // a cancel request
	CancelIOCRemainder    CancelReason = 2 // the untraded rest of an IOC order
	CancelMarketRemainder CancelReason = 3 // the untraded rest of a market order
	CancelFOKUnfilled     CancelReason = 4 // a FOK order that could not trade fully
)

func (r CancelReason) valid() bool { return r >= CancelRequested && r <= CancelFOKUnfilled }

// String names the reason.
func (r CancelReason) String() string {
	switch r {
	case CancelRequested:
		return "requested"
	case CancelIOCRemainder:
		return "ioc_remainder"
	case CancelMarketRemainder:
		return "market_remainder"
	case CancelFOKUnfilled:
		return "fok_unfilled"
	}
	return fmt.Sprintf("cancel_reason(%d)", uint8(r))
}

// Reason is a reject reason. Codes below 100 come from the gateway (the
// request was not sequenced: Reject.Seq is 0); codes from 100 come from the
// engine (the request was sequenced and logged, and Reject.Seq is its
// sequence). The decoder accepts any value, so that a client keeps working
// when a server adds a reason; treat unknown ones as a generic reject.
type Reason uint16

// Reject reasons.
const (
	// Gateway reasons: the request never reached the log.
	ReasonNotReady     Reason = 1  // the node is recovering or stopping; retry later with the same request id
	ReasonOverloaded   Reason = 2  // the sequencer's queue is full; retry later with the same request id
	ReasonInvalidQty   Reason = 3  // qty ≤ 0
	ReasonInvalidPrice Reason = 4  // limit price ≤ 0, or market order with a non-zero price
	ReasonInvalidOrder Reason = 5  // order id 0, or a market order that is post-only
	ReasonInvalidReqID Reason = 6  // request id 0
	ReasonStaleReqID   Reason = 7  // request id at or below the client's last one and never accepted
	ReasonReqIDTooOld  Reason = 8  // request id below the remembered window; its outcome is forgotten
	ReasonClientLimit  Reason = 9  // the idempotency table holds no room for another client id
	ReasonUnavailable  Reason = 10 // the backend refused the request for another reason

	// Engine reasons: the request was sequenced and logged.
	ReasonUnknownSymbol  Reason = 100
	ReasonUnknownOrder   Reason = 101
	ReasonPriceOffTick   Reason = 102
	ReasonPriceOutOfBand Reason = 103
	ReasonDuplicateOrder Reason = 104
	ReasonBookFull       Reason = 105
	ReasonWouldTrade     Reason = 106 // post-only order that would trade
	ReasonQtyOverflow    Reason = 107
	ReasonEngineOther    Reason = 199
)

// Sequenced reports whether a reject with this reason comes from the engine,
// that is, after the request was logged.
func (r Reason) Sequenced() bool { return r >= 100 }

// Retryable reports whether the same request (same request id) may succeed
// if sent again later.
func (r Reason) Retryable() bool {
	return r == ReasonNotReady || r == ReasonOverloaded || r == ReasonUnavailable
}

// String names the reason.
func (r Reason) String() string {
	switch r {
	case ReasonNotReady:
		return "not_ready"
	case ReasonOverloaded:
		return "overloaded"
	case ReasonInvalidQty:
		return "invalid_qty"
	case ReasonInvalidPrice:
		return "invalid_price"
	case ReasonInvalidOrder:
		return "invalid_order"
	case ReasonInvalidReqID:
		return "invalid_request_id"
	case ReasonStaleReqID:
		return "stale_request_id"
	case ReasonReqIDTooOld:
		return "request_id_too_old"
	case ReasonClientLimit:
		return "client_limit"
	case ReasonUnavailable:
		return "unavailable"
	case ReasonUnknownSymbol:
		return "unknown_symbol"
	case ReasonUnknownOrder:
		return "unknown_order"
	case ReasonPriceOffTick:
		return "price_off_tick"
	case ReasonPriceOutOfBand:
		return "price_out_of_band"
	case ReasonDuplicateOrder:
		return "duplicate_order_id"
	case ReasonBookFull:
		return "book_full"
	case ReasonWouldTrade:
		return "would_trade"
	case ReasonQtyOverflow:
		return "qty_overflow"
	case ReasonEngineOther:
		return "engine_other"
	}
	return fmt.Sprintf("reason(%d)", uint16(r))
}

// ErrorCode says why the server is closing a connection (Error frame).
// Unknown codes are accepted by the decoder.
type ErrorCode uint16

// Error codes.
const (
	ErrCodeMalformed      ErrorCode = 1  // a frame broke the layout rules
	ErrCodeFrameTooLarge  ErrorCode = 2  // a frame's length exceeded the limit
	ErrCodeUnknownType    ErrorCode = 3  // a frame named no defined type
	ErrCodeVersion        ErrorCode = 4  // the client's version is not spoken here
	ErrCodeHandshake      ErrorCode = 5  // first frame not a Hello, a second Hello, bad magic or client id 0
	ErrCodeUnexpectedType ErrorCode = 6  // a server-to-client type sent by a client
	ErrCodeTruncated      ErrorCode = 7  // the stream ended inside a frame
	ErrCodeReplaced       ErrorCode = 8  // another connection said Hello with the same client id
	ErrCodeShutdown       ErrorCode = 9  // the server is stopping
	ErrCodeTimeout        ErrorCode = 10 // no Hello in time, or idle for too long
	ErrCodeSlowConsumer   ErrorCode = 11 // the client did not read its responses fast enough
	ErrCodeTooManyConns   ErrorCode = 12 // the server's connection limit is reached
)

// String names the code.
func (c ErrorCode) String() string {
	switch c {
	case ErrCodeMalformed:
		return "malformed"
	case ErrCodeFrameTooLarge:
		return "frame_too_large"
	case ErrCodeUnknownType:
		return "unknown_type"
	case ErrCodeVersion:
		return "version"
	case ErrCodeHandshake:
		return "handshake"
	case ErrCodeUnexpectedType:
		return "unexpected_type"
	case ErrCodeTruncated:
		return "truncated"
	case ErrCodeReplaced:
		return "replaced"
	case ErrCodeShutdown:
		return "shutdown"
	case ErrCodeTimeout:
		return "timeout"
	case ErrCodeSlowConsumer:
		return "slow_consumer"
	case ErrCodeTooManyConns:
		return "too_many_connections"
	}
	return fmt.Sprintf("error_code(%d)", uint16(c))
}

// Symbol is an instrument name: 1 to 8 printable ASCII bytes (0x21–0x7E),
// zero-padded on the right. Only that canonical form decodes.
type Symbol [8]byte

// MakeSymbol returns s as a Symbol, or false if s is not 1 to 8 printable
// ASCII bytes.
func MakeSymbol(s string) (Symbol, bool) {
	var sym Symbol
	if len(s) == 0 || len(s) > len(sym) {
		return Symbol{}, false
	}
	copy(sym[:], s)
	return sym, sym.Valid()
}

// Valid reports whether the symbol is canonical.
func (s Symbol) Valid() bool {
	n := s.Len()
	if n == 0 {
		return false
	}
	for i := 0; i < n; i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	for i := n; i < len(s); i++ {
		if s[i] != 0 {
			return false
		}
	}
	return true
}

// Len returns the length of the name before the padding.
func (s Symbol) Len() int {
	for i, c := range s {
		if c == 0 {
			return i
		}
	}
	return len(s)
}

// String returns the name without padding.
func (s Symbol) String() string { return string(s[:s.Len()]) }

// ParseSide reads "B" or "S" (the command file's letters; "buy" and "sell"
// also accepted).
func ParseSide(s string) (Side, bool) {
	switch s {
	case "B", "b", "buy", "BUY":
		return Buy, true
	case "S", "s", "sell", "SELL":
		return Sell, true
	}
	return 0, false
}

// ParseOrderType reads "L" or "M" ("limit" and "market" also accepted).
func ParseOrderType(s string) (OrderType, bool) {
	switch s {
	case "L", "l", "limit", "LIMIT":
		return Limit, true
	case "M", "m", "market", "MARKET":
		return Market, true
	}
	return 0, false
}

// ParseTIF reads GTC, IOC, FOK or POST.
func ParseTIF(s string) (TIF, bool) {
	for t := GTC; t <= POST; t++ {
		if s == t.String() {
			return t, true
		}
	}
	return 0, false
}
