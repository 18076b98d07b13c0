package gateway

import (
	"errors"

	"github.com/cowbook/cowbook/gateway/wire"
)

// Errors a Backend returns from Submit; the gateway turns them into rejects
// that leave the request id unused, so the client may send it again.
var (
	// ErrNotReady means the node is recovering or stopping.
	ErrNotReady = errors.New("gateway: node not ready")
	// ErrOverloaded means the sequencer's queue is full.
	ErrOverloaded = errors.New("gateway: node overloaded")
)

// Backend is what the gateway needs from the node.
type Backend interface {
	// Submit hands one validated, deduplicated request to the sequencer.
	// It must not block for long and must not call back into the gateway
	// (the gateway holds its idempotency lock while calling it).
	//
	// A nil error is a promise: the node will sequence the request, log it
	// together with req.ClientID and req.ReqID, and call s.Complete
	// exactly once with its outcome after the log record is durable, or
	// stop (fail-stop) without acknowledging it. A non-nil error (ErrNotReady,
	// ErrOverloaded or any other) means the request was not taken.
	Submit(s *Session, req Request) error
	// Status returns the node's current figures. It is called from
	// connection goroutines and must be safe for concurrent use.
	Status() wire.Status
}

// Request is one client request, validated. Kind says which fields matter:
// NewOrder uses all of them; Cancel uses Symbol and OrderID; Replace uses
// Symbol, OrderID, Price and Qty.
type Request struct {
	Kind     wire.Type // TypeNewOrder, TypeCancel or TypeReplace
	ClientID uint64
	ReqID    uint64
	Symbol   wire.Symbol
	OrderID  uint64
	Account  uint64
	Price    int64
	Qty      int64
	Side     wire.Side
	Type     wire.OrderType
	TIF      wire.TIF
}

// Report is an execution report the node sends to a client with
// Server.Deliver. Type says which fields matter:
//
//	TypeTrade:     Seq, OrderID (maker), TakerOrderID, Price, Qty, Symbol, TakerSide
//	TypeCancelled: Seq, OrderID, Qty (cancelled), Symbol, CancelReason
//	TypeReplaced:  Seq, OrderID, Price, Qty (new remaining), Symbol
type Report struct {
	Type         wire.Type
	Seq          uint64
	OrderID      uint64
	TakerOrderID uint64
	Price        int64
	Qty          int64
	Symbol       wire.Symbol
	TakerSide    wire.Side
	CancelReason wire.CancelReason
}

// validate returns the gateway reject reason for a request that must not
// reach the sequencer, or 0.
func (r *Request) validate() wire.Reason {
	if r.ReqID == 0 {
		return wire.ReasonInvalidReqID
	}
	if r.OrderID == 0 {
		return wire.ReasonInvalidOrder
	}
	switch r.Kind {
	case wire.TypeNewOrder:
		switch {
		case r.Qty <= 0:
			return wire.ReasonInvalidQty
		case r.Type == wire.Limit && r.Price <= 0, r.Type == wire.Market && r.Price != 0:
			return wire.ReasonInvalidPrice
		case r.Type == wire.Market && r.TIF == wire.POST:
			return wire.ReasonInvalidOrder
		}
	case wire.TypeReplace:
		switch {
		case r.Qty <= 0:
			return wire.ReasonInvalidQty
		case r.Price <= 0:
			return wire.ReasonInvalidPrice
		}
	}
	return 0
}
