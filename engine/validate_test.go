package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
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
	if (hi-lo)/e.newIndexScan(nil).step < 2 {
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

// TestIndexCheckMatchesLookup damages the order index of a book at random,
// thousands of times, and checks that Validate's two ways of checking it
// agree on every damaged index: against the keys its pool scan notes
// (without a migration) and by looking every entry up (the way it checks
// during a migration, itself checked by TestValidateCatches). The damage
// includes changes that leave the index valid (two entries of one cluster
// swapped, both still reachable), which both must accept.
func TestIndexCheckMatchesLookup(t *testing.T) {
	e, err := New(Config{MaxOrders: 4096, MaxSymbols: 2, MaxLevels: 1000,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 1000},
			{Symbol: MustSymbol("Y"), Tick: 1, BandMin: 1, BandMax: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(7, 7))
	seq := uint64(0)
	for id := OrderID(1); seq < 3000; id++ {
		sym := MustSymbol([2]string{"X", "Y"}[rng.IntN(2)])
		c := Command{Kind: CmdNew, Symbol: sym, ID: id, Side: Buy, Type: Limit, TIF: GTC, Price: Price(1 + rng.IntN(500)), Qty: 3}
		if rng.IntN(4) == 0 {
			c = Command{Kind: CmdCancel, Symbol: sym, ID: OrderID(1 + rng.IntN(int(id)))}
		}
		seq++
		if _, err := e.Apply(seq, &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	for e.h.IndexOld != 0 { // end any migration: both checks must apply
		e.migrateIndex(migrateSteps)
	}
	if err := e.validateWith(false); err != nil {
		t.Fatal(err)
	}
	if err := e.validateWith(true); err != nil {
		t.Fatal(err)
	}
	img := append([]byte(nil), e.Arena()...)
	lo, hi := e.h.IndexActive, 2*e.h.IndexActive
	var occupied, empty []uint32
	for p := lo; p < hi; p++ {
		if *e.idx(p) != 0 {
			occupied = append(occupied, p)
		} else {
			empty = append(empty, p)
		}
	}
	pick := func(s []uint32) uint32 { return s[rng.IntN(len(s))] }
	put := func(p uint32, ent uint64, tag uint8) { *e.idx(p), *e.tag(p) = ent, tag }
	damage := []struct {
		name string
		do   func()
	}{
		{"swap two entries", func() {
			p, q := pick(occupied), pick(occupied)
			ep, tp, eq, tq := *e.idx(p), *e.tag(p), *e.idx(q), *e.tag(q)
			put(p, eq, tq)
			put(q, ep, tp)
		}},
		{"swap with the next position", func() {
			p := pick(occupied)
			q := lo + (p-lo+1)%(hi-lo)
			ep, tp, eq, tq := *e.idx(p), *e.tag(p), *e.idx(q), *e.tag(q)
			put(p, eq, tq)
			put(q, ep, tp)
		}},
		{"empty an entry", func() { put(pick(occupied), 0, 0) }},
		{"empty an entry, keep its tag", func() { *e.idx(pick(occupied)) = 0 }},
		{"copy an entry to an empty position", func() {
			p := pick(occupied)
			put(pick(empty), *e.idx(p), *e.tag(p))
		}},
		{"copy an entry to the position after its cluster", func() {
			p := pick(occupied)
			q := p
			for *e.idx(q) != 0 {
				q = lo + (q-lo+1)%(hi-lo)
			}
			put(q, *e.idx(p), *e.tag(p))
		}},
		{"flip an entry bit", func() { *e.idx(pick(occupied)) ^= 1 << rng.IntN(64) }},
		{"flip a tag bit", func() { *e.tag(pick(occupied)) ^= 1 << rng.IntN(8) }},
		{"set bits in an empty position", func() {
			p := pick(empty)
			if rng.IntN(2) == 0 {
				*e.idx(p) = 1 << rng.IntN(64)
			} else {
				*e.tag(p) = uint8(1 + rng.IntN(255))
			}
		}},
		{"point an entry at another slot", func() {
			p := pick(occupied)
			*e.idx(p) = *e.idx(p)&^0xffffffff | uint64(1+rng.IntN(int(e.h.PoolHigh)+2))
		}},
		{"an entry outside the table in use", func() {
			p := pick(occupied)
			q := uint32(1 + rng.IntN(int(lo)-1))
			if rng.IntN(2) == 0 {
				q = hi + uint32(rng.IntN(int(2*e.h.IndexCap-hi)))
			}
			put(q, *e.idx(p), *e.tag(p))
		}},
	}
	accepted, rejected := map[string]int{}, map[string]int{}
	for i := 0; i < 4000; i++ {
		copy(e.Arena(), img)
		d := damage[i%len(damage)]
		d.do()
		if rng.IntN(3) == 0 {
			damage[rng.IntN(len(damage))].do()
		}
		keysErr, lookupErr := e.validateWith(false), e.validateWith(true)
		if (keysErr == nil) != (lookupErr == nil) {
			t.Fatalf("%s (round %d): checked against the pool's keys: %v; by lookups: %v", d.name, i, keysErr, lookupErr)
		}
		if keysErr == nil {
			accepted[d.name]++
		} else {
			rejected[d.name]++
		}
	}
	// Not blind, not paranoid: most damage is caught, and some (swaps
	// inside a cluster) is not damage at all.
	for _, d := range damage {
		if rejected[d.name] == 0 {
			t.Errorf("%s: never rejected", d.name)
		}
	}
	if accepted["swap with the next position"] == 0 {
		t.Errorf("no valid swap accepted: %v", accepted)
	}
}

// TestAttachChecksEveryIndexPosition damages one position of the order
// index at a time, at random, and checks that Attach (which runs before
// anything else on a snapshot) rejects it and names that position, with
// the table checked whole and in two halves on two goroutines.
func TestAttachChecksEveryIndexPosition(t *testing.T) {
	e, err := New(Config{MaxOrders: 4096, MaxSymbols: 1, MaxLevels: 1000,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 1000}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	for seq := uint64(1); seq <= 1500; seq++ {
		c := Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: OrderID(seq), Side: Buy, Type: Limit, TIF: GTC, Price: Price(1 + rng.IntN(400)), Qty: 3}
		if _, err := e.Apply(seq, &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	for e.h.IndexOld != 0 {
		e.migrateIndex(migrateSteps)
	}
	mem, err := AllocArena(len(e.Arena()))
	if err != nil {
		t.Fatal(err)
	}
	defer FreeArena(mem)
	lo, hi := e.h.IndexActive, 2*e.h.IndexActive
	defer func(v uint32) { indexSplitMin = v }(indexSplitMin)
	for _, split := range []uint32{1, 1 << 30} {
		indexSplitMin = split
		copy(mem, e.Arena())
		if _, err := Attach(mem); err != nil {
			t.Fatalf("split at %d: undamaged arena: %v", split, err)
		}
		for i := 0; i < 400; i++ {
			copy(mem, e.Arena())
			x, err := Attach(mem)
			if err != nil {
				t.Fatal(err)
			}
			p := lo + uint32(rng.IntN(int(hi-lo)))
			ent, tag := x.idx(p), x.tag(p)
			switch occupied := *ent != 0; {
			case occupied && i%2 == 0:
				*tag ^= 1 << rng.IntN(7) // stays a tag (top bit set), the wrong one
			case occupied:
				*ent = *ent&^0xffffffff | uint64(x.h.PoolHigh+1+uint32(rng.IntN(100)))
			case i%2 == 0:
				*tag = 0x80 | uint8(rng.IntN(128))
			default:
				*ent = uint64(1+rng.IntN(1<<31)) << 32
			}
			want := fmt.Sprintf("order index position %d:", p)
			if _, err := Attach(mem); !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), want) {
				t.Fatalf("split at %d, round %d: Attach = %v, want ErrLayout naming %q", split, i, err, want)
			}
		}
	}
}
