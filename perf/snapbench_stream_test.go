package perf

import (
	"errors"
	"testing"

	"github.com/cowbook/cowbook/engine"
)

func newTestStdBook(t *testing.T, orders, ops int) *snapBook {
	t.Helper()
	std, err := newStdStream(GenOptions{Ops: ops, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newSnapBook(orders, std)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	return b
}

func resting(e *engine.Engine, sym engine.Symbol) []engine.OrderInfo {
	return append(e.Orders(sym, engine.Buy), e.Orders(sym, engine.Sell)...)
}

// The standard stream, applied pass after pass beside a background book,
// trades and cancels exactly as the generator saw it: no command is
// rejected for an unknown or duplicate id (stdStep fails on those), every
// pass ends with the symbol's book empty, its ids never meet the
// background's, and the background book is left alone.
func TestStdStreamAppliesCleanly(t *testing.T) {
	const orders = 5000
	b := newTestStdBook(t, orders, 30_000)
	std := b.std
	if std.drain == 0 || std.peak == 0 || std.span == 0 {
		t.Fatalf("stream: %d commands, drain %d, peak %d, span %d", std.n, std.drain, std.peak, std.span)
	}
	var kinds [256]int
	var trades, rejects int
	seenMid := false
	for pass := 0; pass < 3; pass++ {
		for i := 0; i < std.n; i++ {
			if err := b.stdStep(); err != nil {
				t.Fatalf("pass %d step %d: %v", pass, i, err)
			}
			kinds[b.cmd.Kind]++
			lo, hi := stdIDBase+engine.OrderID(pass)*std.span, stdIDBase+engine.OrderID(pass+1)*std.span
			if b.cmd.ID < lo || b.cmd.ID >= hi {
				t.Fatalf("pass %d step %d: id %d outside [%d, %d)", pass, i, b.cmd.ID, lo, hi)
			}
			for _, ev := range b.out {
				switch ev.Kind {
				case engine.EvTrade:
					trades++
				case engine.EvRejected:
					rejects++
				}
			}
			if i == std.n/2 && !seenMid {
				seenMid = true
				if n := len(resting(b.e, stdSymbol)); n < 1000 {
					t.Fatalf("mid-pass, the standard book holds only %d orders", n)
				}
			}
		}
		if rest := resting(b.e, stdSymbol); len(rest) != 0 {
			t.Fatalf("after pass %d, %d orders left on %s (first %+v)", pass, len(rest), stdSymbol, rest[0])
		}
		if n := len(resting(b.e, snapSymbol)); n != orders {
			t.Fatalf("after pass %d, background book holds %d orders, want %d", pass, n, orders)
		}
	}
	if kinds[engine.CmdNew] == 0 || kinds[engine.CmdCancel] == 0 || kinds[engine.CmdReplace] == 0 || kinds[engine.CmdDefineSymbol] != 0 {
		t.Errorf("command kinds: N %d C %d R %d S %d", kinds['N'], kinds['C'], kinds['R'], kinds['S'])
	}
	// Rejections by design only (post-only orders that would trade):
	// about 1% of the stream.
	if trades == 0 || rejects > 3*std.n/50 {
		t.Errorf("%d trades, %d rejects over %d commands", trades, rejects, 3*std.n)
	}
	if err := b.e.Validate(); err != nil {
		t.Fatal(err)
	}
}

// Negative control: without the drain and without shifting ids, the
// second pass reuses ids of orders still resting from the first, and the
// step reports it.
func TestStdStreamDivergenceDetected(t *testing.T) {
	b := newTestStdBook(t, 1000, 30_000)
	b.std.n -= b.std.drain
	b.std.span = 0
	for i := 0; i < 2*b.std.n; i++ {
		if err := b.stdStep(); err != nil {
			if !errors.Is(err, ErrStreamDiverged) {
				t.Fatalf("step %d: %v, want ErrStreamDiverged", i, err)
			}
			return
		}
	}
	t.Fatal("two passes without drain or id shift applied without a duplicate id")
}

func TestStdStepAllocatesNothing(t *testing.T) {
	b := newTestStdBook(t, 1000, 20_000)
	for range b.std.n { // grow the event buffer to what the stream needs
		if err := b.stdStep(); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if a := testing.AllocsPerRun(10_000, func() {
		if e := b.stdStep(); e != nil {
			err = e
		}
	}); a != 0 {
		t.Errorf("%.2f allocations per step", a)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestStdStreamTooShort(t *testing.T) {
	if s, err := newStdStream(GenOptions{Ops: 1, Seed: 1}); err == nil {
		s.close()
		t.Fatal("a stream of only the symbol definition was accepted")
	}
}
