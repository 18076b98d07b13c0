package perf

import (
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/cowbook/cowbook/engine"
)

// GenOptions shapes a generated workload. Zero values mean the defaults of
// the standard workload (`cowbook gen --seed 1`).
type GenOptions struct {
	// Ops is the number of commands, the symbol definitions included.
	// Zero means DefaultGenOps.
	Ops int
	// Seed selects the random stream; the same options always give the
	// same commands.
	Seed uint64
	// Symbols is the number of symbols; zero means 1.
	Symbols int
	// Distance is the mean distance, in ticks, of passive orders from the
	// mid price; zero means DefaultGenDistance.
	Distance float64
}

// Defaults of the standard workload.
const (
	DefaultGenOps      = 2_000_000
	DefaultGenDistance = 100
)

// Shape of generated symbols: one-unit ticks over a wide band, so the mid
// can drift for the whole run without reaching an edge.
const (
	genTick    = 1
	genBandMin = 10_000
	genBandMax = 200_000
	genMid     = 100_000
)

// EnsureDefaults replaces zero values by their defaults.
func (o *GenOptions) EnsureDefaults() {
	if o.Ops == 0 {
		o.Ops = DefaultGenOps
	}
	if o.Symbols == 0 {
		o.Symbols = 1
	}
	if o.Distance == 0 {
		o.Distance = DefaultGenDistance
	}
}

// Generate produces a realistic, seeded workload and hands each command to
// emit in order. After the symbol definitions, each command is drawn as:
//
//   - 60% passive limit orders on either side at the mid plus or minus an
//     exponentially distributed distance (never crossing; 5% post-only);
//   - 10% aggressive orders that cross 1 to 3 levels of the other side,
//     sized to take them (IOC, GTC, FOK or market);
//   - 30% cancels (70%) or replaces (30%) of live orders: smaller at the
//     same price (keeps priority), larger, or moved.
//
// The mid drifts by a tick every few dozen commands. The book grows to
// tens of thousands of resting orders and then holds steady, because the
// aggressive flow takes more orders as the top of the book thickens. The
// generator tracks the book with a real engine, so cancels and replaces
// target live orders.
func Generate(opts GenOptions, emit func(*engine.Command) error) error {
	opts.EnsureDefaults()
	if opts.Ops < opts.Symbols || opts.Symbols > 1000 || opts.Distance < 1 {
		return fmt.Errorf("perf: bad workload options %+v", opts)
	}
	eng, err := engine.New(GenConfig(opts.Symbols))
	if err != nil {
		return err
	}
	defer eng.Close()
	g := &gen{r: rand.New(rand.NewPCG(opts.Seed, 0x636f77626f6f6b)), eng: eng, opts: opts, out: make([]engine.Event, 0, 1024)}
	for i := 0; i < opts.Symbols; i++ {
		c := engine.Command{Kind: engine.CmdDefineSymbol, Symbol: GenSymbol(i), Tick: genTick, BandMin: genBandMin, BandMax: genBandMax}
		if err := g.apply(&c, emit); err != nil {
			return err
		}
		g.books = append(g.books, genBook{sym: c.Symbol, mid: genMid})
	}
	for i := opts.Symbols; i < opts.Ops; i++ {
		c := g.next()
		if err := g.apply(&c, emit); err != nil {
			return err
		}
	}
	return nil
}

// GenerateCommands returns a generated workload as a slice.
func GenerateCommands(opts GenOptions) ([]engine.Command, error) {
	opts.EnsureDefaults()
	cmds := make([]engine.Command, 0, opts.Ops)
	err := Generate(opts, func(c *engine.Command) error {
		cmds = append(cmds, *c)
		return nil
	})
	return cmds, err
}

// WriteWorkload writes a generated workload as a command file.
func WriteWorkload(w io.Writer, opts GenOptions) error {
	opts.EnsureDefaults()
	cw := engine.NewWriter(w)
	if err := cw.Comment(fmt.Sprintf("cowbook gen --ops %d --seed %d --symbols %d", opts.Ops, opts.Seed, opts.Symbols)); err != nil {
		return err
	}
	if err := Generate(opts, cw.Write); err != nil {
		return err
	}
	return cw.Flush()
}

// GenSymbol is the name of the i-th generated symbol.
func GenSymbol(i int) engine.Symbol {
	return engine.MustSymbol(fmt.Sprintf("COW%d", i))
}

// GenConfig is an engine configuration that holds any generated workload
// of n symbols.
func GenConfig(n int) engine.Config {
	return engine.Config{
		MaxOrders:     1 << 18,
		MaxSymbols:    max(n, 1),
		MaxLevels:     genBandMax - genBandMin + 1,
		LevelCapacity: max(n, 1) * (genBandMax - genBandMin + 1),
	}
}

type genBook struct {
	sym  engine.Symbol
	mid  engine.Price
	live []engine.OrderID // ids that were resting when last seen
}

type gen struct {
	r      *rand.Rand
	eng    *engine.Engine
	opts   GenOptions
	books  []genBook
	nextID engine.OrderID
	seq    uint64
	out    []engine.Event
}

func (g *gen) apply(c *engine.Command, emit func(*engine.Command) error) error {
	g.seq++
	var err error
	if g.out, err = g.eng.Apply(g.seq, c, g.out[:0]); err != nil {
		return err
	}
	if c.Kind == engine.CmdNew || c.Kind == engine.CmdReplace {
		if _, ok := g.eng.Order(c.Symbol, c.ID); ok && c.Kind == engine.CmdNew {
			b := &g.books[g.bookIndex(c.Symbol)]
			b.live = append(b.live, c.ID)
		}
	}
	return emit(c)
}

func (g *gen) bookIndex(s engine.Symbol) int {
	for i := range g.books {
		if g.books[i].sym == s {
			return i
		}
	}
	return 0
}

func (g *gen) side() engine.Side {
	if g.r.IntN(2) == 0 {
		return engine.Buy
	}
	return engine.Sell
}

func (g *gen) qty() engine.Qty { return engine.Qty(1 + int(g.r.ExpFloat64()*20)) }

func (g *gen) next() engine.Command {
	b := &g.books[g.r.IntN(len(g.books))]
	if g.r.IntN(32) == 0 {
		b.mid += engine.Price(2*g.r.IntN(2) - 1)
		b.mid = max(genBandMin+10_000, min(genBandMax-10_000, b.mid))
	}
	switch u := g.r.IntN(100); {
	case u < 60:
		return g.passive(b)
	case u < 70:
		return g.aggressive(b)
	default:
		return g.amend(b)
	}
}

func (g *gen) passive(b *genBook) engine.Command {
	g.nextID++
	c := engine.Command{Kind: engine.CmdNew, Symbol: b.sym, ID: g.nextID, Account: engine.Account(g.r.IntN(1000)),
		Side: g.side(), Type: engine.Limit, TIF: engine.GTC, Qty: g.qty()}
	d := engine.Price(1 + int(g.r.ExpFloat64()*g.opts.Distance))
	cross := false
	if g.r.IntN(20) == 0 {
		c.TIF = engine.POST
		// Now and then at the other side's best: rejected, would trade.
		cross = g.r.IntN(5) == 0
	}
	if c.Side == engine.Buy {
		c.Price = b.mid - d
		if a, ok := g.eng.BestAsk(b.sym); ok && (cross || c.Price >= a.Price) {
			c.Price = a.Price - 1
			if cross {
				c.Price = a.Price
			}
		}
	} else {
		c.Price = b.mid + d
		if bb, ok := g.eng.BestBid(b.sym); ok && (cross || c.Price <= bb.Price) {
			c.Price = bb.Price + 1
			if cross {
				c.Price = bb.Price
			}
		}
	}
	c.Price = max(genBandMin, min(genBandMax, c.Price))
	return c
}

func (g *gen) aggressive(b *genBook) engine.Command {
	g.nextID++
	c := engine.Command{Kind: engine.CmdNew, Symbol: b.sym, ID: g.nextID, Account: engine.Account(g.r.IntN(1000)),
		Side: g.side(), Type: engine.Limit}
	bids, asks := g.eng.Depth(b.sym, 3)
	opp := asks
	if c.Side == engine.Sell {
		opp = bids
	}
	k := 1 + g.r.IntN(3)
	if len(opp) < k {
		k = len(opp)
	}
	var q engine.Qty
	for _, l := range opp[:k] {
		q += l.Qty
	}
	if k > 0 {
		c.Price = opp[k-1].Price
		// Take the last level partly, now and then.
		if g.r.IntN(3) == 0 {
			q -= opp[k-1].Qty / 2
		}
	} else {
		c.Price = b.mid
		q = g.qty()
	}
	c.Qty = max(1, q)
	switch u := g.r.IntN(10); {
	case u < 4:
		c.TIF = engine.IOC
	case u < 7:
		c.TIF = engine.GTC
	case u < 8:
		c.TIF = engine.FOK
		if g.r.IntN(2) == 0 {
			c.Qty++ // one more than is there: not fillable
		}
	default:
		c.Type, c.TIF, c.Price = engine.Market, engine.IOC, 0
	}
	return c
}

// liveOrder draws a resting order of b, dropping ids that have left the
// book since they were recorded.
func (g *gen) liveOrder(b *genBook) (engine.OrderInfo, bool) {
	for len(b.live) > 0 {
		i := g.r.IntN(len(b.live))
		id := b.live[i]
		if o, ok := g.eng.Order(b.sym, id); ok {
			return o, true
		}
		b.live[i] = b.live[len(b.live)-1]
		b.live = b.live[:len(b.live)-1]
	}
	return engine.OrderInfo{}, false
}

func (g *gen) amend(b *genBook) engine.Command {
	o, ok := g.liveOrder(b)
	if !ok {
		return g.passive(b)
	}
	if g.r.IntN(10) < 7 {
		return engine.Command{Kind: engine.CmdCancel, Symbol: b.sym, ID: o.ID}
	}
	c := engine.Command{Kind: engine.CmdReplace, Symbol: b.sym, ID: o.ID, Price: o.Price, Qty: o.Qty}
	switch u := g.r.IntN(10); {
	case u < 5:
		c.Qty = max(1, o.Qty-engine.Qty(1+g.r.IntN(int(o.Qty))))
	case u < 7:
		c.Qty = o.Qty + g.qty()
	default:
		step := engine.Price(1 + g.r.IntN(5))
		if g.r.IntN(2) == 0 {
			step = -step
		}
		c.Price = max(genBandMin, min(genBandMax, o.Price+step))
	}
	return c
}
