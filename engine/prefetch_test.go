package engine_test

import (
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/engine"
)

// coldBook builds a book of n resting orders spread over 180k levels and a
// tail of m commands in the shape of a node's log between snapshots: 60%
// new passive orders, 30% cancels of live orders chosen uniformly, 10% IOC
// orders crossing up to 1000 levels. Uniform cancels over a book this size
// miss the cache on almost every command: the case Prefetch is for.
func coldBook(tb testing.TB, n, m int) (*engine.Engine, []engine.Command) {
	tb.Helper()
	const mid = 100_000
	e, err := engine.New(engine.Config{MaxOrders: n + m + 1024, MaxSymbols: 1, MaxLevels: 200_001,
		Symbols: []engine.SymbolSpec{{Symbol: benchSym, Tick: 1, BandMin: 1, BandMax: 200_001}}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	rng := rand.New(rand.NewPCG(3, 4))
	var live []engine.OrderID
	next := engine.OrderID(0)
	order := func(cross bool) engine.Command {
		next++
		c := engine.Command{Kind: engine.CmdNew, Symbol: benchSym, ID: next, Account: 1, Type: engine.Limit, TIF: engine.GTC, Qty: engine.Qty(1 + rng.IntN(100))}
		off := engine.Price(1 + rng.IntN(90_000))
		c.Side, c.Price = engine.Buy, mid-off
		if rng.IntN(2) == 0 {
			c.Side, c.Price = engine.Sell, mid+off
		}
		if cross {
			c.TIF, c.Price = engine.IOC, mid-1000
			if c.Side == engine.Buy {
				c.Price = mid + 1000
			}
		}
		return c
	}
	var out []engine.Event
	for i := range n {
		c := order(false)
		live = append(live, c.ID)
		if out, err = e.Apply(uint64(i+1), &c, out[:0]); err != nil {
			tb.Fatal(err)
		}
	}
	tail := make([]engine.Command, 0, m)
	for range m {
		switch p := rng.IntN(10); {
		case p < 3 && len(live) > 0:
			k := rng.IntN(len(live))
			tail = append(tail, engine.Command{Kind: engine.CmdCancel, Symbol: benchSym, ID: live[k]})
			live[k] = live[len(live)-1]
			live = live[:len(live)-1]
		case p < 4:
			tail = append(tail, order(true))
		default:
			c := order(false)
			live = append(live, c.ID)
			tail = append(tail, c)
		}
	}
	return e, tail
}

// applyAll applies cmds from seq onwards to e, with Prefetch at the engine's
// distances when prefetch is set.
func applyAll(tb testing.TB, e *engine.Engine, cmds []engine.Command, prefetch bool) {
	out := make([]engine.Event, 0, 64)
	d := engine.PrefetchDistance()
	var err error
	for i := range cmds {
		if prefetch {
			for st := range d {
				if j := i + d[st]; j < len(cmds) {
					e.Prefetch(&cmds[j], st)
				}
			}
		}
		if out, err = e.Apply(e.LastSeq()+1, &cmds[i], out[:0]); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestPrefetchChangesNothing applies the same commands to two copies of a
// book, one with Prefetch at every stage for the commands ahead (and for
// garbage commands), and checks that both end byte for byte the same, and
// that Prefetch alone changes no byte.
func TestPrefetchChangesNothing(t *testing.T) {
	e, tail := coldBook(t, 20_000, 40_000)
	mem := append([]byte(nil), e.Arena()...)
	twin, err := engine.Attach(alignedCopy(t, mem))
	if err != nil {
		t.Fatal(err)
	}
	defer twin.Close()

	rng := rand.New(rand.NewPCG(7, 7))
	before := twin.Checksum()
	for range 20_000 { // garbage: any command is accepted
		kinds := [...]engine.CommandKind{engine.CmdNew, engine.CmdCancel, engine.CmdReplace, engine.CmdDefineSymbol, 0, 'Z'}
		c := engine.Command{Kind: kinds[rng.IntN(len(kinds))], Qty: engine.Qty(rng.IntN(50)), Symbol: benchSym, ID: engine.OrderID(rng.Uint64() % 80_000),
			Side: engine.Side(rng.IntN(4)), Type: engine.OrderType(rng.IntN(4)), Price: engine.Price(rng.Int64N(300_000) - 50_000)}
		if rng.IntN(8) == 0 {
			c.Symbol = engine.MustSymbol("NOPE")
		}
		twin.Prefetch(&c, rng.IntN(4)-1)
	}
	if twin.Checksum() != before {
		t.Fatal("Prefetch changed the arena")
	}
	applyAll(t, e, tail, false)
	applyAll(t, twin, tail, true)
	if e.Checksum() != twin.Checksum() || e.EventHash() != twin.EventHash() {
		t.Fatalf("with Prefetch: checksum %x event hash %x; without: %x %x", twin.Checksum(), twin.EventHash(), e.Checksum(), e.EventHash())
	}
	if err := twin.Validate(); err != nil {
		t.Fatal(err)
	}
}

func alignedCopy(t *testing.T, mem []byte) []byte {
	dst, err := engine.AllocArena(len(mem))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { engine.FreeArena(dst) })
	copy(dst, mem)
	return dst
}

// BenchmarkColdTail applies the tail of a 1M-order book (recovery's
// replay) without and with Prefetch; ns/op is per command. Each run
// applies the whole tail to a fresh copy of the book, so the figure is
// taken on the cold book a restart meets.
func BenchmarkColdTail(b *testing.B) {
	e, tail := coldBook(b, 1_000_000, 200_000)
	img := append([]byte(nil), e.Arena()...)
	for _, pf := range []bool{false, true} {
		name := "plain"
		if pf {
			name = "prefetch"
		}
		b.Run(name, func(b *testing.B) {
			mem, err := engine.AllocArena(len(img))
			if err != nil {
				b.Fatal(err)
			}
			defer engine.FreeArena(mem)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var cpu time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for done := 0; done < b.N; {
				b.StopTimer()
				copy(mem, img)
				x, err := engine.Attach(mem)
				if err != nil {
					b.Fatal(err)
				}
				k := min(b.N-done, len(tail))
				b.StartTimer()
				t0 := threadCPU()
				applyAll(b, x, tail[:k], pf)
				cpu += threadCPU() - t0
				done += k
			}
			// The machine may be shared: the thread's own CPU time per
			// command is the steadier figure.
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkValidateColdBook validates a book of 1M resting orders after a
// tail of 200k commands, from a fresh copy each time (recovery's check).
func BenchmarkValidateColdBook(b *testing.B) {
	e, tail := coldBook(b, 1_000_000, 200_000)
	applyAll(b, e, tail, true)
	img := append([]byte(nil), e.Arena()...)
	mem, err := engine.AllocArena(len(img))
	if err != nil {
		b.Fatal(err)
	}
	defer engine.FreeArena(mem)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		copy(mem, img)
		x, err := engine.Attach(mem)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := x.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
