package engine

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

var longTests = flag.Bool("long", false, "run the long randomized tests (tens of millions of operations)")

// edgeGen produces random command streams aimed at the book's edges: a
// small pool that fills up, a small id space (duplicates, cancels of filled
// orders), off-tick and out-of-band prices, quantities around 0 and MaxQty,
// FOK orders sized exactly at what is fillable, post-only orders placed
// across the spread, replaces that keep, lose or cross, markets into empty
// books, malformed enumerations and S commands that exhaust capacities.
// It peeks at the reference book to aim, deterministically.
type edgeGen struct {
	r    *rand.Rand
	ref  *refEngine
	syms []Symbol
	mid  map[Symbol]Price
	ids  int
}

func newEdgeGen(seed uint64, ref *refEngine, ids int) *edgeGen {
	g := &edgeGen{r: rand.New(rand.NewPCG(seed, seed^0x5eed)), ref: ref, ids: ids, mid: map[Symbol]Price{}}
	g.syms = append(g.syms, ref.symbols...)
	g.syms = append(g.syms, MustSymbol("ZZ")) // never defined
	return g
}

func (g *edgeGen) pick(n int) int { return g.r.IntN(n) }

func (g *edgeGen) symbol() (Symbol, *refBook) {
	var s Symbol
	if g.pick(50) == 0 {
		s = g.syms[len(g.syms)-1]
	} else if len(g.ref.symbols) > 0 {
		s = g.ref.symbols[g.pick(len(g.ref.symbols))]
	} else {
		s = g.syms[0]
	}
	return s, g.ref.books[s]
}

func (g *edgeGen) price(b *refBook) Price {
	if b == nil {
		return Price(1 + g.pick(200))
	}
	n := len(b.levels[0])
	mid, ok := g.mid[b.sym]
	if !ok {
		mid = Price(n / 2)
	}
	if g.pick(4) == 0 {
		mid += Price(g.pick(3) - 1)
		mid = max(0, min(Price(n-1), mid))
		g.mid[b.sym] = mid
	}
	switch g.pick(40) {
	case 0:
		return b.min - b.tick
	case 1:
		return b.max + b.tick
	case 2:
		return 0
	case 3:
		if b.tick > 1 {
			return b.min + b.tick*mid + 1
		}
	case 4:
		return -b.tick
	}
	l := mid + Price(g.pick(13)-6)
	l = max(0, min(Price(n-1), l))
	return b.min + l*b.tick
}

func (g *edgeGen) qty() Qty {
	switch g.pick(60) {
	case 0:
		return 0
	case 1:
		return -Qty(g.pick(5) + 1)
	case 2:
		return MaxQty
	case 3:
		return MaxQty + 1
	case 4:
		return 1 << 62
	}
	return Qty(1 + g.pick(20))
}

func (g *edgeGen) id() OrderID { return OrderID(g.pick(g.ids) + 1) }

// liveOrder picks a resting order of sym most of the time, otherwise a
// random id (which may be dead: filled, cancelled or never used).
func (g *edgeGen) liveOrder(sym Symbol) (OrderID, *refOrder) {
	b := g.ref.books[sym]
	if b != nil && g.pick(5) != 0 {
		k := g.pick(2)
		n := len(b.levels[k])
		start := g.pick(n)
		for i := 0; i < n; i++ {
			if q := b.levels[k][(start+i)%n]; len(q) > 0 {
				o := q[g.pick(len(q))]
				return o.id, o
			}
		}
	}
	id := g.id()
	return id, g.ref.live[refKey{sym, id}]
}

func (g *edgeGen) next() Command {
	switch k := g.pick(100); {
	case k < 2:
		names := []string{"AAA", "BB", "CC", "DD", "EE", "F.1"}
		c := Command{Kind: CmdDefineSymbol, Symbol: MustSymbol(names[g.pick(len(names))])}
		if g.pick(10) == 0 {
			c.Symbol = Symbol(0x00ff) // not a valid name
		}
		c.Tick = Price(1 + g.pick(5))
		c.BandMin = Price(g.pick(100))
		c.BandMax = c.BandMin + c.Tick*Price(g.pick(80))
		if g.pick(10) == 0 {
			c.BandMax++
		}
		return c
	case k < 58:
		sym, b := g.symbol()
		c := Command{Kind: CmdNew, Symbol: sym, ID: g.id(), Account: Account(g.pick(4)), Side: Side(1 + g.pick(2)), Type: Limit}
		c.TIF = []TIF{GTC, GTC, GTC, IOC, FOK, POST}[g.pick(6)]
		if g.pick(8) == 0 {
			c.Type = Market
		}
		c.Price = g.price(b)
		c.Qty = g.qty()
		if c.Type == Market && g.pick(10) != 0 {
			c.Price = 0
		}
		if c.TIF == FOK && b != nil && g.pick(2) == 0 {
			lim := len(b.levels[0]) - 1
			if c.Side == Sell {
				lim = 0
			}
			if c.Type == Limit {
				if l, r := b.levelOf(c.Price); r == ReasonNone {
					lim = l
				}
			}
			if f := g.ref.fillable(b, c.Side, lim); f > 0 {
				c.Qty = f + Qty(g.pick(2)) // exactly fillable, or one more
			}
		}
		if c.TIF == POST && b != nil && g.pick(2) == 0 {
			if l := b.best(2 - int(c.Side)); l >= 0 {
				c.Price = b.price(l) // at the opposite best: would trade
			}
		}
		switch g.pick(200) {
		case 0:
			c.Side = Side(g.pick(2) * 3)
		case 1:
			c.TIF = TIF(g.pick(2) * 5)
		case 2:
			c.Type = OrderType(g.pick(2) * 3)
		}
		return c
	case k < 78:
		sym, _ := g.symbol()
		id, _ := g.liveOrder(sym)
		return Command{Kind: CmdCancel, Symbol: sym, ID: id}
	case k < 99:
		sym, b := g.symbol()
		id, o := g.liveOrder(sym)
		c := Command{Kind: CmdReplace, Symbol: sym, ID: id, Price: g.price(b), Qty: g.qty()}
		if o != nil {
			switch g.pick(4) {
			case 0: // same price, smaller: keeps priority
				c.Price = b.price(o.level)
				c.Qty = max(1, o.qty-Qty(g.pick(int(o.qty))))
			case 1: // same price, larger
				c.Price = b.price(o.level)
				c.Qty = o.qty + Qty(1+g.pick(5))
			case 2: // across the spread
				if l := b.best(2 - int(o.side)); l >= 0 {
					c.Price = b.price(l)
				}
			}
		}
		return c
	default:
		return Command{Kind: CommandKind(g.pick(256))}
	}
}

func edgeConfig(seed uint64) Config {
	pools := []int{8, 40, 300}
	return Config{
		MaxOrders:     pools[seed%3],
		MaxSymbols:    4,
		MaxLevels:     80,
		LevelCapacity: 200,
		Symbols: []SymbolSpec{
			{Symbol: MustSymbol("AAA"), Tick: 1, BandMin: 100, BandMax: 163},
			{Symbol: MustSymbol("BB"), Tick: 5, BandMin: 1000, BandMax: 1000 + 5*39},
		},
	}
}

// runDifferential applies ops random commands to the engine and the
// reference and fails at the first difference in events, counters or book
// contents; Validate runs every validateEvery operations.
func runDifferential(t *testing.T, seed uint64, ops, validateEvery int, seen map[string]int) {
	t.Helper()
	cfg := edgeConfig(seed)
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	ref, slots := newRef(cfg), newSlotTracker()
	g := newEdgeGen(seed, ref, 2*cfg.MaxOrders+8)
	buf := make([]Event, 0, 64)
	fail := func(i int, c *Command, format string, args ...any) {
		t.Helper()
		t.Fatalf("seed %d op %d (%+v): %s", seed, i+1, *c, fmt.Sprintf(format, args...))
	}
	for i := 0; i < ops; i++ {
		c := g.next()
		got, err := e.Apply(uint64(i+1), &c, buf[:0])
		if err != nil {
			fail(i, &c, "Apply: %v", err)
		}
		if err := slots.check(e, &c, got); err != nil {
			fail(i, &c, "%v", err)
		}
		want := ref.apply(&c)
		for _, ev := range got {
			seen[ev.Kind.String()+"/"+ev.Reason.String()]++
		}
		if c.Kind == CmdReplace && len(got) > 1 && got[0].Kind == EvReplaced {
			seen["replace-crossing"]++
		}
		if e.h.IndexOld != 0 {
			seen["index-migrating"]++
		}
		if c.Kind == CmdNew && c.Type == Market && len(got) == 2 && got[1].Reason == ReasonMarketRemainder && got[1].Qty == c.Qty {
			seen["market-into-empty"]++
		}
		if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
			fail(i, &c, "events differ\n got %v\nwant %v", got, want)
		}
		if validateEvery > 0 && i%validateEvery == 0 {
			if err := e.Validate(); err != nil {
				fail(i, &c, "%v", err)
			}
			st := e.Stats()
			if st.RestingOrders != len(ref.live) || st.Trades != ref.trades || st.TradedQty != ref.tradedQty {
				fail(i, &c, "stats %+v, reference live %d trades %d qty %d", st, len(ref.live), ref.trades, ref.tradedQty)
			}
		}
		if i%1000 == 999 || i == ops-1 {
			for _, sym := range ref.symbols {
				for _, side := range []Side{Buy, Sell} {
					if got, want := e.Orders(sym, side), ref.orders(sym, side); !reflect.DeepEqual(got, want) {
						fail(i, &c, "%s %s book differs\n got %v\nwant %v", sym, side, got, want)
					}
				}
			}
		}
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("seed %d end: %v", seed, err)
	}
	if e.LastSeq() != uint64(ops) {
		t.Fatalf("seed %d: LastSeq %d after %d ops", seed, e.LastSeq(), ops)
	}
}

// TestDifferential runs over a million random commands (several seeds)
// through the engine and the reference book, validating after every
// operation. -long runs far more.
func TestDifferential(t *testing.T) {
	seeds, ops, every := 8, 130_000, 1
	if testing.Short() {
		seeds, ops = 4, 20_000
	}
	if *longTests {
		seeds, ops, every = 64, 1_000_000, 97
	}
	seen := map[string]int{}
	for s := 0; s < seeds; s++ {
		seed := uint64(s + 1)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			runDifferential(t, seed, ops, every, seen)
		})
	}
	// The generator must reach every outcome, or the comparison is blind
	// to it.
	want := []string{"replace-crossing", "market-into-empty", "index-migrating", "trade/none", "replaced/none", "accepted/none"}
	for r := range reasonNames {
		switch {
		case r == ReasonNone:
		case r >= ReasonCancelled:
			want = append(want, "cancelled/"+r.String())
		default:
			want = append(want, "rejected/"+r.String())
		}
	}
	for _, w := range want {
		if seen[w] == 0 {
			t.Errorf("no %s outcome in the random commands", w)
		}
	}
	t.Logf("outcomes: %v", seen)
}
