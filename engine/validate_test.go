package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestValidateCatches corrupts one structure at a time and checks that
// Validate names it: the invariant checks are not blind.
func TestValidateCatches(t *testing.T) {
	build := func(t *testing.T) *Engine {
		e, err := New(Config{MaxOrders: 64, MaxSymbols: 2, MaxLevels: 200,
			Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 200}}})
		if err != nil {
			t.Fatal(err)
		}
		lines := []string{"N,X,1,1,B,L,GTC,100,5", "N,X,2,1,B,L,GTC,100,6", "N,X,3,1,B,L,GTC,90,7",
			"N,X,4,1,S,L,GTC,110,8", "N,X,5,1,S,L,GTC,150,9", "N,X,6,1,B,L,GTC,80,1", "C,X,6"}
		for i, l := range lines {
			c := mustParse(t, l)
			if _, err := e.Apply(uint64(i+1), &c, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	slotOf := func(e *Engine, id OrderID) *order {
		slot, _ := e.findOrder(0, id, orderHash(0, id))
		return e.ord(slot)
	}
	cases := []struct {
		name, want string
		break_     func(e *Engine)
	}{
		{"level qty", "chain ends", func(e *Engine) { e.lvl(&e.sym(0).Side[0], 99).Qty++ }},
		{"level count", "chain ends", func(e *Engine) { e.lvl(&e.sym(0).Side[0], 99).Count = 5 }},
		{"prev link", "prev", func(e *Engine) { slotOf(e, 2).Prev = 0 }},
		{"order side", "side", func(e *Engine) { slotOf(e, 3).Side = 2 }},
		{"bitmap bit", "bitmap bit clear", func(e *Engine) { e.clearBit(&e.sym(0).Side[1], 149) }},
		{"stray bit", "empty but", func(e *Engine) { e.setBit(&e.sym(0).Side[1], 10) }},
		{"best cache", "best level cache", func(e *Engine) { e.sym(0).Side[0].Best = 89 }},
		{"side total", "side says", func(e *Engine) { e.sym(0).Side[1].Qty++ }},
		{"header qty", "header says", func(e *Engine) { e.h.AskQty++ }},
		{"index entry", "order index", func(e *Engine) {
			for p := e.h.IndexActive; p < 2*e.h.IndexActive; p++ {
				if *e.idx(p) != 0 {
					*e.idx(p) ^= 1 << 40
					return
				}
			}
		}},
		{"free list lost", "free list", func(e *Engine) { e.h.FreeHead = 0 }},
		{"free slot in use", "pool slots in use", func(e *Engine) { e.ord(e.h.FreeHead).Side = 1 }},
		{"free list cycle", "free list: cycle", func(e *Engine) { e.ord(e.h.FreeHead).Next = e.h.FreeHead }},
		{"free list into a live order", "holds a live order", func(e *Engine) {
			slot, _ := e.findOrder(0, 2, orderHash(0, 2))
			e.ord(e.h.FreeHead).Next = slot
		}},
		{"free list past the pool", "above high-water mark", func(e *Engine) { e.ord(e.h.FreeHead).Next = e.h.PoolHigh + 1 }},
		{"live count", "live", func(e *Engine) { e.h.Live++ }},
		{"crossed book", "", func(e *Engine) {
			// Move the best ask below the best bid by relinking order 4.
			s := e.sym(0)
			slot, _ := e.findOrder(0, 4, orderHash(0, 4))
			o := e.ord(slot)
			e.unlink(s, o)
			e.link(s, slot, o, 50)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := build(t)
			defer e.Close()
			tc.break_(e)
			err := e.Validate()
			if !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvariant mentioning %q", err, tc.want)
			}
		})
	}
}

// TestValidateReportsLowestLevel breaks chains far apart on a book of
// many levels, which Validate walks many at a time, and checks that it
// names the lowest broken level whatever the order the walks end in.
func TestValidateReportsLowestLevel(t *testing.T) {
	build := func(t *testing.T) *Engine {
		e, err := New(Config{MaxOrders: 4096, MaxSymbols: 1, MaxLevels: 1000,
			Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 1000}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		seq := uint64(0)
		// Level p holds 1 + p%7 orders, so chains end at different turns.
		for p := 1; p <= 400; p++ {
			for k := 0; k <= p%7; k++ {
				seq++
				c := Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: OrderID(seq), Side: Buy, Type: Limit, TIF: GTC, Price: Price(p), Qty: 3}
				if _, err := e.Apply(seq, &c, nil); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
		return e
	}
	tail := func(e *Engine, price int) *order { return e.ord(e.lvl(&e.sym(0).Side[0], int32(price-1)).Tail) }
	head := func(e *Engine, price int) *order { return e.ord(e.lvl(&e.sym(0).Side[0], int32(price-1)).Head) }
	cases := []struct {
		name   string
		break_ func(e *Engine)
		want   string
	}{
		{"one late chain", func(e *Engine) { tail(e, 390).Qty++ }, "level 389:"},
		{"late then early", func(e *Engine) { tail(e, 300).Qty++; head(e, 27).Level = 3 }, "level 26:"},
		{"early qty, late prev", func(e *Engine) { tail(e, 13).Qty++; tail(e, 14).Prev = 1 }, "level 12:"},
		{"stray bit below a chain", func(e *Engine) { head(e, 200).Qty++; e.setBit(&e.sym(0).Side[0], 700) }, "level 199:"},
		{"level check below a chain", func(e *Engine) { head(e, 300).Qty++; e.clearBit(&e.sym(0).Side[0], 250) }, "level 250: non-empty but bitmap bit clear"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := build(t)
			tc.break_(e)
			err := e.Validate()
			if !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvariant naming %q", err, tc.want)
			}
		})
	}
}

// TestValidateReportsLowestIndexPosition breaks two index entries far
// apart, in chunks of the index scan that either goroutine may take, and
// checks that Validate names the lower position every time.
func TestValidateReportsLowestIndexPosition(t *testing.T) {
	e, err := New(Config{MaxOrders: 4096, MaxSymbols: 1, MaxLevels: 1000,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for seq := uint64(1); seq <= 2000; seq++ {
		c := Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: OrderID(seq), Side: Buy, Type: Limit, TIF: GTC, Price: Price(1 + seq%400), Qty: 3}
		if _, err := e.Apply(seq, &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	// Point an entry at another live order, keeping its hash and tag: only
	// the scan of the entries can tell.
	var used []uint32
	for p := e.h.IndexActive; p < 2*e.h.IndexActive; p++ {
		if *e.idx(p) != 0 {
			used = append(used, p)
		}
	}
	if len(used) < 1000 {
		t.Fatalf("%d index entries", len(used))
	}
	lo, hi := used[len(used)/5], used[len(used)-10]
	if (hi-lo)/e.newIndexScan().step < 2 {
		t.Fatalf("positions %d and %d are not chunks apart", lo, hi)
	}
	redirect := func(p, q uint32) {
		*e.idx(p) = *e.idx(p)&^0xffffffff | *e.idx(q)&0xffffffff
	}
	redirect(hi, used[0])
	redirect(lo, used[1])
	want := fmt.Sprintf("order index position %d:", lo)
	for range 50 {
		if err := e.Validate(); !errors.Is(err, ErrInvariant) || !strings.Contains(err.Error(), want) {
			t.Fatalf("Validate = %v, want ErrInvariant naming %q", err, want)
		}
	}
}
