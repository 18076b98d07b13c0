package engine

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// slotTracker checks Event.Slot, which the reference engine does not model.
// It follows each resting order's slot from the events alone and checks
// every event's slot against that and against the engine's order index;
// then it clears the slots, so that the events compare with the reference's.
type slotTracker struct {
	at  map[refKey]uint32 // resting order → its slot, as the events told
	who map[uint32]refKey // the other way round
}

func newSlotTracker() *slotTracker {
	return &slotTracker{at: map[refKey]uint32{}, who: map[uint32]refKey{}}
}

// slotOf returns the slot the engine's index holds for (sym, id), 0 if the
// order is not resting.
func slotOf(e *Engine, sym Symbol, id OrderID) uint32 {
	si, ok := e.findSymbol(sym)
	if !ok {
		return 0
	}
	slot, _ := e.findOrder(si, id, orderHash(si, id))
	return slot
}

func (st *slotTracker) forget(k refKey) {
	delete(st.who, st.at[k])
	delete(st.at, k)
}

// check runs after e applied c with events evs.
func (st *slotTracker) check(e *Engine, c *Command, evs []Event) error {
	var rested uint32
	for i := range evs {
		ev := &evs[i]
		k := refKey{ev.Symbol, ev.ID}
		switch {
		case ev.Kind == EvAccepted && c.Kind == CmdNew:
			rested = ev.Slot
		case ev.Kind == EvTrade:
			mk := refKey{ev.Symbol, ev.Maker}
			want, ok := st.at[mk]
			if !ok || ev.Slot != want {
				return fmt.Errorf("event %d %v: slot %d, the maker rests in %d (known %v)", i, *ev, ev.Slot, want, ok)
			}
			if slotOf(e, ev.Symbol, ev.Maker) == 0 {
				st.forget(mk) // filled: the slot is free for the rest of the command
			}
		case ev.Kind == EvCancelled && c.Kind == CmdCancel, ev.Kind == EvReplaced:
			want, ok := st.at[k]
			if !ok || ev.Slot != want {
				return fmt.Errorf("event %d %v: slot %d, the order rests in %d (known %v)", i, *ev, ev.Slot, want, ok)
			}
		default:
			if ev.Slot != 0 {
				return fmt.Errorf("event %d %v: slot %d, want 0", i, *ev, ev.Slot)
			}
		}
	}
	if c.Kind == CmdCancel || c.Kind == CmdReplace {
		k := refKey{c.Symbol, c.ID}
		if _, ok := st.at[k]; ok {
			if got := slotOf(e, c.Symbol, c.ID); got == 0 {
				st.forget(k)
			} else if got != st.at[k] {
				return fmt.Errorf("order %v moved from slot %d to %d", k, st.at[k], got)
			}
		}
	}
	if c.Kind == CmdNew && len(evs) > 0 && evs[0].Kind == EvAccepted {
		k := refKey{c.Symbol, c.ID}
		got := slotOf(e, c.Symbol, c.ID)
		if got != rested {
			return fmt.Errorf("accepted with slot %d, the index holds %d", rested, got)
		}
		if rested != 0 {
			if other, used := st.who[rested]; used {
				return fmt.Errorf("slot %d given to %v while %v rests in it", rested, k, other)
			}
			st.at[k], st.who[rested] = rested, k
		}
	}
	for i := range evs {
		evs[i].Slot = 0
	}
	return nil
}

// checkStep checks command i, c, that e applied with events got, against
// the reference: the events' slots, then the events themselves, then every
// invariant of e.
func checkStep(t *testing.T, e *Engine, ref *refEngine, slots *slotTracker, i int, c *Command, got []Event) {
	t.Helper()
	if err := slots.check(e, c, got); err != nil {
		t.Fatalf("op %d %+v: %v", i, *c, err)
	}
	if want := ref.apply(c); !reflect.DeepEqual(got, want) {
		t.Fatalf("op %d %+v:\n got %v\nwant %v", i, *c, got, want)
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("op %d %+v: %v", i, *c, err)
	}
}

// TestSlotTrackerFailsOnWrongSlots is the control: the tracker must notice
// a wrong slot on each kind of event that carries one.
func TestSlotTrackerFailsOnWrongSlots(t *testing.T) {
	cfg := Config{MaxOrders: 64, MaxSymbols: 1, MaxLevels: 64, LevelCapacity: 128,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 64}}}
	x := MustSymbol("X")
	cmds := []Command{
		{Kind: CmdNew, Symbol: x, ID: 1, Side: Sell, Type: Limit, TIF: GTC, Price: 10, Qty: 5},
		{Kind: CmdNew, Symbol: x, ID: 2, Side: Sell, Type: Limit, TIF: GTC, Price: 11, Qty: 5},
		{Kind: CmdReplace, Symbol: x, ID: 2, Price: 12, Qty: 4},
		{Kind: CmdNew, Symbol: x, ID: 3, Side: Buy, Type: Limit, TIF: GTC, Price: 10, Qty: 7}, // fills 1, rests 2
		{Kind: CmdCancel, Symbol: x, ID: 3},
	}
	for bad := range cmds {
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		st := newSlotTracker()
		var caught error
		for i := range cmds {
			evs, err := e.Apply(uint64(i+1), &cmds[i], nil)
			if err != nil {
				t.Fatal(err)
			}
			if i == bad {
				for j := range evs {
					if evs[j].Slot != 0 {
						evs[j].Slot ^= 1 << 20
						break
					}
				}
			}
			if caught = st.check(e, &cmds[i], evs); caught != nil {
				break
			}
		}
		e.Close()
		if caught == nil {
			t.Fatalf("a wrong slot in the events of command %d went unnoticed", bad)
		}
	}
}

// TestEventSlots runs random commands over a small pool, so that slots are
// freed and reused often, also within one command (a taker resting in the
// slot of the maker it filled), and checks every event's slot.
func TestEventSlots(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		cfg := Config{MaxOrders: 16, MaxSymbols: 2, MaxLevels: 32, LevelCapacity: 64,
			Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 16}, {Symbol: MustSymbol("Y"), Tick: 1, BandMin: 1, BandMax: 16}}}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		st := newSlotTracker()
		reused := 0
		var buf []Event
		for i := 0; i < 20000; i++ {
			sym := cfg.Symbols[rng.IntN(2)].Symbol
			c := Command{Symbol: sym, ID: OrderID(1 + rng.IntN(40)), Price: Price(1 + rng.IntN(16)), Qty: Qty(1 + rng.IntN(6))}
			switch r := rng.IntN(10); {
			case r < 6:
				c.Kind, c.Side, c.Type, c.TIF = CmdNew, Side(1+rng.IntN(2)), Limit, []TIF{GTC, GTC, IOC, FOK, POST}[rng.IntN(5)]
			case r < 8:
				c.Kind = CmdCancel
			default:
				c.Kind = CmdReplace
			}
			buf, err = e.Apply(uint64(i+1), &c, buf[:0])
			if err != nil {
				t.Fatal(err)
			}
			freed := map[uint32]bool{}
			for _, ev := range buf {
				if ev.Kind == EvTrade && slotOf(e, ev.Symbol, ev.Maker) == 0 {
					freed[ev.Slot] = true
				}
			}
			if len(buf) > 0 && buf[0].Kind == EvAccepted && freed[buf[0].Slot] {
				reused++
			}
			if err := st.check(e, &c, buf); err != nil {
				t.Fatalf("seed %d op %d %+v: %v", seed, i, c, err)
			}
		}
		if len(st.at) != e.Stats().RestingOrders {
			t.Fatalf("seed %d: %d orders tracked, %d resting", seed, len(st.at), e.Stats().RestingOrders)
		}
		if reused == 0 {
			t.Fatalf("seed %d: no taker rested in the slot of a maker it filled", seed)
		}
		e.Close()
	}
}
