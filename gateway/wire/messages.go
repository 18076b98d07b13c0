package wire

import (
	"encoding/binary"
	"fmt"
)

var le = binary.LittleEndian

// Hello is the first frame a client sends. Its layout is frozen across
// protocol versions.
//
//	0 magic u32 | 4 version u16 | 6 flags u16 (0) | 8 client id u64
type Hello struct {
	Version uint16
	// ClientID names the client across connections and restarts: request
	// ids are deduplicated per client id. Never 0.
	ClientID uint64
}

// ServerHello answers a Hello. Its layout is frozen across protocol versions.
//
//	0 magic u32 | 4 version u16 | 6 status u8 | 7 reserved u8
//	8 client id u64 | 16 last request id u64 | 24 durable sequence u64
type ServerHello struct {
	Version  uint16 // the version the server speaks
	Status   HelloStatus
	ClientID uint64
	// LastReqID is the highest request id the server has accepted from this
	// client id (0 if none); a client that lost its own state continues
	// above it.
	LastReqID uint64
	// DurableSeq is the node's durable sequence at the handshake.
	DurableSeq uint64
}

// NewOrder asks for a new order.
//
//	0 request id | 8 order id | 16 account | 24 price i64 | 32 qty i64
//	40 symbol [8] | 48 side u8 | 49 type u8 | 50 tif u8 | 51 reserved [5]
type NewOrder struct {
	ReqID   uint64
	OrderID uint64
	Account uint64
	Price   int64 // ticks; 0 for a market order
	Qty     int64 // lots
	Symbol  Symbol
	Side    Side
	Type    OrderType
	TIF     TIF
}

// Cancel asks to cancel a resting order.
//
//	0 request id | 8 order id | 16 symbol [8]
type Cancel struct {
	ReqID   uint64
	OrderID uint64
	Symbol  Symbol
}

// Replace asks to change a resting order's price and remaining quantity.
//
//	0 request id | 8 order id | 16 price i64 | 24 qty i64 | 32 symbol [8]
type Replace struct {
	ReqID   uint64
	OrderID uint64
	Price   int64
	Qty     int64 // new remaining quantity
	Symbol  Symbol
}

// Token is the body of StatusQuery, Heartbeat and HeartbeatAck: a value the
// client chooses and the server echoes.
//
//	0 token u64
type Token struct {
	Token uint64
}

// Ack says that a request was sequenced, is durable in the log, and the
// engine accepted it.
//
//	0 request id | 8 sequence
type Ack struct {
	ReqID uint64
	Seq   uint64
}

// Reject says that a request was refused. Seq is 0 when the gateway refused
// it (it never reached the log) and the request's sequence when the engine
// did (it is logged; the reject is sent only once durable).
//
//	0 request id | 8 sequence | 16 reason u16 | 18 text length u16
//	20 reserved u32 | 24 text
type Reject struct {
	ReqID  uint64
	Seq    uint64
	Reason Reason
	Text   []byte // at most MaxTextLen bytes; aliases the decode buffer
}

// Trade is an execution report, sent to the owners of both orders.
//
//	0 sequence | 8 maker order id | 16 taker order id | 24 price | 32 qty
//	40 symbol [8] | 48 taker side u8 | 49 reserved [7]
type Trade struct {
	Seq          uint64 // sequence of the command that caused the trade
	MakerOrderID uint64
	TakerOrderID uint64
	Price        int64 // the maker's price
	Qty          int64
	Symbol       Symbol
	TakerSide    Side
}

// Cancelled reports that an order left the book (or never rested).
//
//	0 sequence | 8 order id | 16 qty | 24 symbol [8] | 32 reason u8
//	33 reserved [7]
type Cancelled struct {
	Seq     uint64
	OrderID uint64
	Qty     int64 // quantity that was cancelled
	Symbol  Symbol
	Reason  CancelReason
}

// Replaced reports a successful replace.
//
//	0 sequence | 8 order id | 16 price | 24 qty | 32 symbol [8]
type Replaced struct {
	Seq     uint64
	OrderID uint64
	Price   int64
	Qty     int64
	Symbol  Symbol
}

// Status answers a StatusQuery.
//
//	0 token | 8 state u8 | 9 reserved [7] | 16 sequence | 24 durable sequence
//	32 snapshot sequence | 40 snapshot unix ns i64 | 48 last fork pause ns
//	56 recovery ns | 64 recovery snapshot load ns | 72 recovery replay ns
//	80 recovery validate ns
type Status struct {
	Token              uint64
	State              State
	Seq                uint64 // last sequence assigned
	DurableSeq         uint64 // last sequence durable in the log
	SnapshotSeq        uint64 // sequence of the newest published snapshot (0: none)
	SnapshotUnixNano   int64  // when that snapshot was taken (0: none)
	ForkPauseNs        uint64 // parent pause of the last snapshot fork
	RecoveryNs         uint64 // the last recovery, total
	RecoverySnapLoadNs uint64
	RecoveryReplayNs   uint64
	RecoveryValidateNs uint64
}

// Error is sent before the server closes a connection for a protocol
// violation or a policy reason.
//
//	0 code u16 | 2 text length u16 | 4 reserved u32 | 8 text
type Error struct {
	Code ErrorCode
	Text []byte // at most MaxTextLen bytes; aliases the decode buffer
}

// Frame holds one decoded message: Type says which field is meaningful.
// Decoding into the same Frame repeatedly allocates nothing.
type Frame struct {
	Type        Type
	Hello       Hello
	ServerHello ServerHello
	NewOrder    NewOrder
	Cancel      Cancel
	Replace     Replace
	Token       Token // StatusQuery, Heartbeat, HeartbeatAck
	Ack         Ack
	Reject      Reject
	Trade       Trade
	Cancelled   Cancelled
	Replaced    Replaced
	Status      Status
	Error       Error
}

// AppendFrame appends f's message (the field Type names) to dst.
func AppendFrame(dst []byte, f *Frame) ([]byte, error) {
	switch f.Type {
	case TypeHello:
		return AppendHello(dst, f.Hello), nil
	case TypeServerHello:
		return AppendServerHello(dst, f.ServerHello), nil
	case TypeNewOrder:
		return AppendNewOrder(dst, &f.NewOrder), nil
	case TypeCancel:
		return AppendCancel(dst, f.Cancel), nil
	case TypeReplace:
		return AppendReplace(dst, &f.Replace), nil
	case TypeStatusQuery, TypeHeartbeat, TypeHeartbeatAck:
		return AppendToken(dst, f.Type, f.Token.Token), nil
	case TypeAck:
		return AppendAck(dst, f.Ack), nil
	case TypeReject:
		return AppendReject(dst, &f.Reject), nil
	case TypeTrade:
		return AppendTrade(dst, &f.Trade), nil
	case TypeCancelled:
		return AppendCancelled(dst, &f.Cancelled), nil
	case TypeReplaced:
		return AppendReplaced(dst, &f.Replaced), nil
	case TypeStatus:
		return AppendStatus(dst, &f.Status), nil
	case TypeError:
		return AppendError(dst, &f.Error), nil
	}
	return dst, fmt.Errorf("%w: cannot encode 0x%02x", ErrUnknownType, uint8(f.Type))
}

// AppendHello appends a Hello frame.
func AppendHello(dst []byte, m Hello) []byte {
	dst = putHeader(dst, TypeHello, helloSize)
	dst = le.AppendUint32(dst, Magic)
	dst = le.AppendUint16(dst, m.Version)
	dst = le.AppendUint16(dst, 0)
	return le.AppendUint64(dst, m.ClientID)
}

// AppendServerHello appends a ServerHello frame.
func AppendServerHello(dst []byte, m ServerHello) []byte {
	dst = putHeader(dst, TypeServerHello, serverHelloSize)
	dst = le.AppendUint32(dst, Magic)
	dst = le.AppendUint16(dst, m.Version)
	dst = append(dst, byte(m.Status), 0)
	dst = le.AppendUint64(dst, m.ClientID)
	dst = le.AppendUint64(dst, m.LastReqID)
	return le.AppendUint64(dst, m.DurableSeq)
}

// AppendNewOrder appends a NewOrder frame.
func AppendNewOrder(dst []byte, m *NewOrder) []byte {
	dst = putHeader(dst, TypeNewOrder, newOrderSize)
	dst = le.AppendUint64(dst, m.ReqID)
	dst = le.AppendUint64(dst, m.OrderID)
	dst = le.AppendUint64(dst, m.Account)
	dst = le.AppendUint64(dst, uint64(m.Price))
	dst = le.AppendUint64(dst, uint64(m.Qty))
	dst = append(dst, m.Symbol[:]...)
	return append(dst, byte(m.Side), byte(m.Type), byte(m.TIF), 0, 0, 0, 0, 0)
}

// AppendCancel appends a Cancel frame.
func AppendCancel(dst []byte, m Cancel) []byte {
	dst = putHeader(dst, TypeCancel, cancelSize)
	dst = le.AppendUint64(dst, m.ReqID)
	dst = le.AppendUint64(dst, m.OrderID)
	return append(dst, m.Symbol[:]...)
}

// AppendReplace appends a Replace frame.
func AppendReplace(dst []byte, m *Replace) []byte {
	dst = putHeader(dst, TypeReplace, replaceSize)
	dst = le.AppendUint64(dst, m.ReqID)
	dst = le.AppendUint64(dst, m.OrderID)
	dst = le.AppendUint64(dst, uint64(m.Price))
	dst = le.AppendUint64(dst, uint64(m.Qty))
	return append(dst, m.Symbol[:]...)
}

// AppendToken appends a StatusQuery, Heartbeat or HeartbeatAck frame.
func AppendToken(dst []byte, t Type, token uint64) []byte {
	dst = putHeader(dst, t, tokenSize)
	return le.AppendUint64(dst, token)
}

// AppendAck appends an Ack frame.
func AppendAck(dst []byte, m Ack) []byte {
	dst = putHeader(dst, TypeAck, ackSize)
	dst = le.AppendUint64(dst, m.ReqID)
	return le.AppendUint64(dst, m.Seq)
}

func clipText(b []byte) []byte {
	if len(b) > MaxTextLen {
		return b[:MaxTextLen]
	}
	return b
}

// AppendReject appends a Reject frame; text beyond MaxTextLen is cut.
func AppendReject(dst []byte, m *Reject) []byte {
	text := clipText(m.Text)
	dst = putHeader(dst, TypeReject, rejectFixedSize+len(text))
	dst = le.AppendUint64(dst, m.ReqID)
	dst = le.AppendUint64(dst, m.Seq)
	dst = le.AppendUint16(dst, uint16(m.Reason))
	dst = le.AppendUint16(dst, uint16(len(text)))
	dst = le.AppendUint32(dst, 0)
	return append(dst, text...)
}

// AppendTrade appends a Trade frame.
func AppendTrade(dst []byte, m *Trade) []byte {
	dst = putHeader(dst, TypeTrade, tradeSize)
	dst = le.AppendUint64(dst, m.Seq)
	dst = le.AppendUint64(dst, m.MakerOrderID)
	dst = le.AppendUint64(dst, m.TakerOrderID)
	dst = le.AppendUint64(dst, uint64(m.Price))
	dst = le.AppendUint64(dst, uint64(m.Qty))
	dst = append(dst, m.Symbol[:]...)
	return append(dst, byte(m.TakerSide), 0, 0, 0, 0, 0, 0, 0)
}

// AppendCancelled appends a Cancelled frame.
func AppendCancelled(dst []byte, m *Cancelled) []byte {
	dst = putHeader(dst, TypeCancelled, cancelledSize)
	dst = le.AppendUint64(dst, m.Seq)
	dst = le.AppendUint64(dst, m.OrderID)
	dst = le.AppendUint64(dst, uint64(m.Qty))
	dst = append(dst, m.Symbol[:]...)
	return append(dst, byte(m.Reason), 0, 0, 0, 0, 0, 0, 0)
}

// AppendReplaced appends a Replaced frame.
func AppendReplaced(dst []byte, m *Replaced) []byte {
	dst = putHeader(dst, TypeReplaced, replacedSize)
	dst = le.AppendUint64(dst, m.Seq)
	dst = le.AppendUint64(dst, m.OrderID)
	dst = le.AppendUint64(dst, uint64(m.Price))
	dst = le.AppendUint64(dst, uint64(m.Qty))
	return append(dst, m.Symbol[:]...)
}

// AppendStatus appends a Status frame.
func AppendStatus(dst []byte, m *Status) []byte {
	dst = putHeader(dst, TypeStatus, statusSize)
	dst = le.AppendUint64(dst, m.Token)
	dst = append(dst, byte(m.State), 0, 0, 0, 0, 0, 0, 0)
	dst = le.AppendUint64(dst, m.Seq)
	dst = le.AppendUint64(dst, m.DurableSeq)
	dst = le.AppendUint64(dst, m.SnapshotSeq)
	dst = le.AppendUint64(dst, uint64(m.SnapshotUnixNano))
	dst = le.AppendUint64(dst, m.ForkPauseNs)
	dst = le.AppendUint64(dst, m.RecoveryNs)
	dst = le.AppendUint64(dst, m.RecoverySnapLoadNs)
	dst = le.AppendUint64(dst, m.RecoveryReplayNs)
	return le.AppendUint64(dst, m.RecoveryValidateNs)
}

// AppendError appends an Error frame; text beyond MaxTextLen is cut.
func AppendError(dst []byte, m *Error) []byte {
	text := clipText(m.Text)
	dst = putHeader(dst, TypeError, errorFixedSize+len(text))
	dst = le.AppendUint16(dst, uint16(m.Code))
	dst = le.AppendUint16(dst, uint16(len(text)))
	dst = le.AppendUint32(dst, 0)
	return append(dst, text...)
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func malformed(t Type, what string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, t, what)
}

// decodeBody decodes body (whose length ParseHeader has checked against t)
// into the field of f that t names.
func (f *Frame) decodeBody(t Type, b []byte) error {
	if n := bodySize(t); n > 0 && len(b) != n {
		return malformed(t, fmt.Sprintf("body of %d bytes, want %d", len(b), n))
	}
	var sym Symbol
	switch t {
	case TypeHello:
		if le.Uint32(b[0:]) != Magic {
			return malformed(t, "bad magic")
		}
		if le.Uint16(b[6:]) != 0 {
			return malformed(t, "flags not zero")
		}
		f.Hello = Hello{Version: le.Uint16(b[4:]), ClientID: le.Uint64(b[8:])}
	case TypeServerHello:
		if le.Uint32(b[0:]) != Magic {
			return malformed(t, "bad magic")
		}
		st := HelloStatus(b[6])
		if !st.valid() || b[7] != 0 {
			return malformed(t, "bad status")
		}
		f.ServerHello = ServerHello{Version: le.Uint16(b[4:]), Status: st, ClientID: le.Uint64(b[8:]),
			LastReqID: le.Uint64(b[16:]), DurableSeq: le.Uint64(b[24:])}
	case TypeNewOrder:
		copy(sym[:], b[40:48])
		m := NewOrder{ReqID: le.Uint64(b[0:]), OrderID: le.Uint64(b[8:]), Account: le.Uint64(b[16:]),
			Price: int64(le.Uint64(b[24:])), Qty: int64(le.Uint64(b[32:])), Symbol: sym,
			Side: Side(b[48]), Type: OrderType(b[49]), TIF: TIF(b[50])}
		switch {
		case !sym.Valid():
			return malformed(t, "symbol not canonical")
		case !m.Side.valid() || !m.Type.valid() || !m.TIF.valid():
			return malformed(t, "side, type or tif undefined")
		case !zero(b[51:56]):
			return malformed(t, "padding not zero")
		}
		f.NewOrder = m
	case TypeCancel:
		copy(sym[:], b[16:24])
		if !sym.Valid() {
			return malformed(t, "symbol not canonical")
		}
		f.Cancel = Cancel{ReqID: le.Uint64(b[0:]), OrderID: le.Uint64(b[8:]), Symbol: sym}
	case TypeReplace:
		copy(sym[:], b[32:40])
		if !sym.Valid() {
			return malformed(t, "symbol not canonical")
		}
		f.Replace = Replace{ReqID: le.Uint64(b[0:]), OrderID: le.Uint64(b[8:]),
			Price: int64(le.Uint64(b[16:])), Qty: int64(le.Uint64(b[24:])), Symbol: sym}
	case TypeStatusQuery, TypeHeartbeat, TypeHeartbeatAck:
		f.Token = Token{Token: le.Uint64(b)}
	case TypeAck:
		f.Ack = Ack{ReqID: le.Uint64(b[0:]), Seq: le.Uint64(b[8:])}
	case TypeReject:
		n := int(le.Uint16(b[18:]))
		if n != len(b)-rejectFixedSize {
			return malformed(t, fmt.Sprintf("text length %d in a body of %d bytes", n, len(b)))
		}
		if le.Uint32(b[20:]) != 0 {
			return malformed(t, "reserved not zero")
		}
		f.Reject = Reject{ReqID: le.Uint64(b[0:]), Seq: le.Uint64(b[8:]), Reason: Reason(le.Uint16(b[16:])),
			Text: b[rejectFixedSize:len(b):len(b)]}
	case TypeTrade:
		copy(sym[:], b[40:48])
		m := Trade{Seq: le.Uint64(b[0:]), MakerOrderID: le.Uint64(b[8:]), TakerOrderID: le.Uint64(b[16:]),
			Price: int64(le.Uint64(b[24:])), Qty: int64(le.Uint64(b[32:])), Symbol: sym, TakerSide: Side(b[48])}
		if !sym.Valid() || !m.TakerSide.valid() || !zero(b[49:56]) {
			return malformed(t, "symbol, side or padding")
		}
		f.Trade = m
	case TypeCancelled:
		copy(sym[:], b[24:32])
		m := Cancelled{Seq: le.Uint64(b[0:]), OrderID: le.Uint64(b[8:]), Qty: int64(le.Uint64(b[16:])),
			Symbol: sym, Reason: CancelReason(b[32])}
		if !sym.Valid() || !m.Reason.valid() || !zero(b[33:40]) {
			return malformed(t, "symbol, reason or padding")
		}
		f.Cancelled = m
	case TypeReplaced:
		copy(sym[:], b[32:40])
		if !sym.Valid() {
			return malformed(t, "symbol not canonical")
		}
		f.Replaced = Replaced{Seq: le.Uint64(b[0:]), OrderID: le.Uint64(b[8:]),
			Price: int64(le.Uint64(b[16:])), Qty: int64(le.Uint64(b[24:])), Symbol: sym}
	case TypeStatus:
		st := State(b[8])
		if !st.valid() || !zero(b[9:16]) {
			return malformed(t, "state or padding")
		}
		f.Status = Status{Token: le.Uint64(b[0:]), State: st, Seq: le.Uint64(b[16:]),
			DurableSeq: le.Uint64(b[24:]), SnapshotSeq: le.Uint64(b[32:]),
			SnapshotUnixNano: int64(le.Uint64(b[40:])), ForkPauseNs: le.Uint64(b[48:]),
			RecoveryNs: le.Uint64(b[56:]), RecoverySnapLoadNs: le.Uint64(b[64:]),
			RecoveryReplayNs: le.Uint64(b[72:]), RecoveryValidateNs: le.Uint64(b[80:])}
	case TypeError:
		n := int(le.Uint16(b[2:]))
		if n != len(b)-errorFixedSize {
			return malformed(t, fmt.Sprintf("text length %d in a body of %d bytes", n, len(b)))
		}
		if le.Uint32(b[4:]) != 0 {
			return malformed(t, "reserved not zero")
		}
		f.Error = Error{Code: ErrorCode(le.Uint16(b[0:])), Text: b[errorFixedSize:len(b):len(b)]}
	default:
		return fmt.Errorf("%w: 0x%02x", ErrUnknownType, uint8(t))
	}
	f.Type = t
	return nil
}
