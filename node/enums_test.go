package node

import (
	"testing"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway/wire"
)

// The node converts the protocol's side, type and time in force to the
// engine's by value (pipeline.go), and the engine's trade side back. The two
// enums are separate contracts (the wire format is versioned on its own), so
// this pins that every value means the same thing in both.
func TestWireAndEngineEnumsAgree(t *testing.T) {
	sides := []struct {
		w wire.Side
		e engine.Side
	}{{wire.Buy, engine.Buy}, {wire.Sell, engine.Sell}}
	for _, s := range sides {
		if uint8(s.w) != uint8(s.e) || s.w.String() != s.e.String() {
			t.Errorf("side %v (%d) ≠ %v (%d)", s.w, s.w, s.e, s.e)
		}
	}
	types := []struct {
		w wire.OrderType
		e engine.OrderType
	}{{wire.Limit, engine.Limit}, {wire.Market, engine.Market}}
	for _, o := range types {
		if uint8(o.w) != uint8(o.e) || o.w.String() != o.e.String() {
			t.Errorf("order type %v (%d) ≠ %v (%d)", o.w, o.w, o.e, o.e)
		}
	}
	tifs := []struct {
		w wire.TIF
		e engine.TIF
	}{{wire.GTC, engine.GTC}, {wire.IOC, engine.IOC}, {wire.FOK, engine.FOK}, {wire.POST, engine.POST}}
	for _, x := range tifs {
		if uint8(x.w) != uint8(x.e) || x.w.String() != x.e.String() {
			t.Errorf("time in force %v (%d) ≠ %v (%d)", x.w, x.w, x.e, x.e)
		}
	}
}

// Every rejection a client's order can meet in the engine reaches the
// client with its own reason; engine_other is left for what a validated
// request cannot cause (symbol definitions, which only the operator logs).
func TestWireReasonCoversClientRejections(t *testing.T) {
	for r, want := range map[engine.Reason]wire.Reason{
		engine.ReasonUnknownSymbol:  wire.ReasonUnknownSymbol,
		engine.ReasonUnknownOrder:   wire.ReasonUnknownOrder,
		engine.ReasonPriceOffTick:   wire.ReasonPriceOffTick,
		engine.ReasonPriceOutOfBand: wire.ReasonPriceOutOfBand,
		engine.ReasonDuplicateOrder: wire.ReasonDuplicateOrder,
		engine.ReasonOrdersFull:     wire.ReasonBookFull,
		engine.ReasonLevelsFull:     wire.ReasonBookFull,
		engine.ReasonWouldTrade:     wire.ReasonWouldTrade,
		engine.ReasonQtyOverflow:    wire.ReasonQtyOverflow,
	} {
		if got := wireReason(r); got != want {
			t.Errorf("engine %v → %v, want %v", r, got, want)
		}
	}
}
