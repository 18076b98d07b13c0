package engine

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// TestIndexGrowthBounded grows a book to 30k resting orders, nine commands
// in ten adding one (close to the fastest growth), with cancels and trades
// mixed in, and checks that no command does more than
// migrateSteps steps of index migration, that every migration finishes
// before the next growth, and that the index is valid at every growth and
// at the end of every migration.
func TestIndexGrowthBounded(t *testing.T) {
	cfg := Config{MaxOrders: 1 << 15, MaxSymbols: 1, MaxLevels: 4096,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 4096}}}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	r := rand.New(rand.NewPCG(3, 4))
	var live []OrderID
	next := OrderID(1)
	growths, migrations := 0, 0
	var out []Event
	for seq := uint64(1); e.Stats().RestingOrders < 30_000; seq++ {
		var c Command
		switch k := r.IntN(10); {
		case k < 9 || len(live) == 0: // rest, bids below 2000, asks above
			c = Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: next, Side: Buy, Type: Limit, TIF: GTC,
				Price: Price(1 + r.IntN(1999)), Qty: Qty(1 + r.IntN(9))}
			if r.IntN(2) == 0 {
				c.Side, c.Price = Sell, Price(2001+r.IntN(2000))
			}
			live = append(live, next)
			next++
		case r.IntN(2) == 0:
			i := r.IntN(len(live))
			c = Command{Kind: CmdCancel, Symbol: MustSymbol("X"), ID: live[i]}
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		default: // trades with the best ask; ids of filled makers stay in live and later cancels of them are rejected
			c = Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: next, Side: Buy, Type: Limit, TIF: IOC, Price: 4096, Qty: 3}
			next++
		}
		before, size, draining := e.migrated, e.h.IndexActive, e.h.IndexOld
		if out, err = e.Apply(seq, &c, out[:0]); err != nil {
			t.Fatal(err)
		}
		if w := e.migrated - before; w > migrateSteps {
			t.Fatalf("command %d did %d migration steps, bound %d", seq, w, migrateSteps)
		}
		if e.h.IndexActive != size {
			growths++
			if draining != 0 {
				t.Fatalf("command %d: growth to %d while the %d-entry table was still draining", seq, e.h.IndexActive, draining)
			}
		}
		if draining != 0 && e.h.IndexOld == 0 {
			migrations++
		}
		if e.h.IndexActive != size || (draining != 0 && e.h.IndexOld == 0) {
			if err := e.Validate(); err != nil {
				t.Fatalf("command %d: %v", seq, err)
			}
		}
	}
	// 64 → 65536 is ten doublings.
	if growths < 10 || migrations < 9 {
		t.Fatalf("%d growths, %d finished migrations: the test did not exercise growth", growths, migrations)
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
}

// indexCommands turns bytes into commands, two bytes each, for one symbol
// X with levels 1..64: resting orders, bursts of them (to reach the growth
// threshold quickly), cancels and crossing orders over 256 ids.
func indexCommands(b []byte) []Command {
	x := MustSymbol("X")
	var out []Command
	for ; len(b) >= 2; b = b[2:] {
		op, arg := b[0], b[1]
		p := Price(op >> 3 % 40)
		switch op & 3 {
		case 0, 1:
			c := Command{Kind: CmdNew, Symbol: x, ID: OrderID(arg), Side: Buy, Type: Limit, TIF: GTC, Price: 1 + p, Qty: 1 + Qty(op>>6)}
			if op&4 != 0 {
				c.Side, c.Price = Sell, 25+p
			}
			out = append(out, c)
		case 2:
			out = append(out, Command{Kind: CmdCancel, Symbol: x, ID: OrderID(arg)})
		case 3:
			for i := 0; i <= int(op>>2&31); i++ {
				out = append(out, Command{Kind: CmdNew, Symbol: x, ID: OrderID(arg) + OrderID(i), Side: Buy, Type: Limit, TIF: GTC, Price: 1 + Price(i%10), Qty: 1})
			}
		}
	}
	return out
}

// FuzzIndexMigration: random growth, deletion and trading around the
// order-index growth threshold agree with the reference book, keep every
// invariant after every command, and an arena copied at any command (in
// the middle of a migration or not) continues byte for byte as the
// original.
func FuzzIndexMigration(f *testing.F) {
	f.Add([]byte{0x7f, 0, 0x7f, 40, 0x02, 3, 0x05, 1, 0x7f, 80, 0x02, 50, 0x85, 9, 0x02, 41})
	f.Add(bytes.Repeat([]byte{0x7f, 0x10, 0x02, 0x11, 0x0c, 0x20, 0x06, 0x21}, 16))
	f.Add([]byte{0x04, 0x7f, 0, 0x7f, 0x40, 0x02, 0x45, 0x6d, 0x33, 0x02, 0x47})
	f.Fuzz(func(t *testing.T, b []byte) { checkIndexMigration(t, b) })
}

// TestIndexMigrationDifferential runs FuzzIndexMigration's check on random
// inputs, so that every run compares many migrations with the reference
// (-long: fifty times as many).
func TestIndexMigrationDifferential(t *testing.T) {
	migrating, seeds := 0, uint64(40)
	if *longTests {
		seeds = 2000
	}
	for seed := uint64(1); seed <= seeds; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		b := make([]byte, 1+2*2000)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		b[0] = byte(seed * 37) // where the copy is taken
		migrating += checkIndexMigration(t, b)
	}
	if migrating < 1000 {
		t.Fatalf("only %d commands ran during a migration", migrating)
	}
	t.Logf("%d commands ran during a migration", migrating)
}

// checkIndexMigration is the body of FuzzIndexMigration; it returns the
// number of commands applied while a migration was in progress.
func checkIndexMigration(t *testing.T, b []byte) int {
	migrating := 0
	{
		cfg := Config{MaxOrders: 200, MaxSymbols: 1, MaxLevels: 64,
			Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 64}}}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		ref, slots := newRef(cfg), newSlotTracker()
		cut := -1
		if len(b) > 0 {
			cut, b = int(b[0]), b[1:]
		}
		var cp *Engine
		var mem []byte
		defer func() {
			if mem != nil {
				_ = FreeArena(mem)
			}
		}()
		for i, c := range indexCommands(b) {
			if i == cut {
				if mem, err = AllocArena(len(e.Arena())); err != nil {
					t.Fatal(err)
				}
				copy(mem, e.Arena())
				if cp, err = Attach(mem); err != nil {
					t.Fatalf("attach at op %d (draining %d): %v", i, e.h.IndexOld, err)
				}
				defer cp.Close()
			}
			before := e.migrated
			got, err := e.Apply(uint64(i+1), &c, nil)
			if err != nil {
				t.Fatalf("op %d %+v: %v", i, c, err)
			}
			if e.h.IndexOld != 0 {
				migrating++
			}
			if e.migrated-before > migrateSteps {
				t.Fatalf("op %d: %d migration steps", i, e.migrated-before)
			}
			if cp != nil {
				got2, err := cp.Apply(uint64(i+1), &c, nil)
				if err != nil || !reflect.DeepEqual(got, got2) {
					t.Fatalf("op %d: copy emitted %v (%v), original %v", i, got2, err, got)
				}
			}
			checkStep(t, e, ref, slots, i, &c, got)
		}
		if cp != nil && !bytes.Equal(cp.Arena(), e.Arena()) {
			t.Fatal("the copy's arena diverged from the original")
		}
	}
	return migrating
}

// TestMigrationStateChecked: Validate and Attach accept an arena in the
// middle of a migration and reject one whose migration state is corrupt.
func TestMigrationStateChecked(t *testing.T) {
	e, err := New(Config{MaxOrders: 1 << 10, MaxSymbols: 1, MaxLevels: 100,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	seq := uint64(0)
	for e.h.IndexOld == 0 || e.h.IndexCursor < 4 {
		seq++
		c := Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: OrderID(seq), Side: Buy, Type: Limit, TIF: GTC, Price: Price(1 + seq%50), Qty: 1}
		if _, err := e.Apply(seq, &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Validate(); err != nil {
		t.Fatalf("mid-migration: %v", err)
	}
	attach := func() error {
		mem, err := AllocArena(len(e.Arena()))
		if err != nil {
			t.Fatal(err)
		}
		defer FreeArena(mem)
		copy(mem, e.Arena())
		c, err := Attach(mem)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := attach(); err != nil {
		t.Fatalf("Attach mid-migration: %v", err)
	}
	h := e.h
	old, cursor := h.IndexOld, h.IndexCursor
	// The first non-empty position at or after the cursor.
	next := cursor
	for *e.tag(old + next) == 0 {
		next++
	}
	cases := []struct {
		name, want string
		set        func()
	}{
		{"cursor past the table", "migration", func() { h.IndexCursor = old }},
		{"old table of the wrong size", "migration", func() { h.IndexOld = old / 2 }},
		{"cursor without a migration", "migration", func() { h.IndexOld = 0 }},
		{"entry below the cursor", "below the migration cursor", func() { h.IndexCursor = next + 1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer func() { h.IndexOld, h.IndexCursor = old, cursor; e.bindIndex() }()
			tc.set()
			e.bindIndex()
			if err := e.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate = %v, want %q", err, tc.want)
			}
			if tc.want == "migration" {
				if err := attach(); !errors.Is(err, ErrLayout) {
					t.Errorf("Attach = %v, want ErrLayout", err)
				}
			}
		})
	}
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestIndexSpansCoverIndexWrites grows a book through several index
// growths and checks, after every command, that every byte of the index and
// tag regions the engine has ever written (a non-zero one: both regions
// start zero and a position's bytes are zero again only when it is empty)
// lies inside IndexSpans, that the spans lie inside those regions, and
// that the tags span is the entries span scaled down: the snapshot path
// relies on the spans to know which pages the index writes.
func TestIndexSpansCoverIndexWrites(t *testing.T) {
	cfg := Config{MaxOrders: 1 << 14, MaxSymbols: 1, MaxLevels: 4096,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 1, BandMin: 1, BandMax: 4096}}}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	h := e.h
	idxLo, idxHi := int(h.IndexOff), int(h.IndexOff)+16*int(h.IndexCap)
	tagLo, tagHi := int(h.TagOff), int(h.TagOff)+2*int(h.IndexCap)
	inside := func(spans []Span, off int) bool {
		for _, s := range spans {
			if off >= s.Off && off < s.Off+s.Len {
				return true
			}
		}
		return false
	}
	r := rand.New(rand.NewPCG(8, 9))
	var out []Event
	var spans []Span
	checked, migrating := 0, 0
	for seq := uint64(1); e.Stats().RestingOrders < 12_000; seq++ {
		c := Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: OrderID(seq), Side: Buy, Type: Limit, TIF: GTC,
			Price: Price(1 + r.IntN(2000)), Qty: 1}
		if out, err = e.Apply(seq, &c, out[:0]); err != nil {
			t.Fatal(err)
		}
		if e.h.IndexOld != 0 {
			migrating++
		}
		if seq%97 != 0 && e.h.IndexOld == 0 {
			continue // every command while migrating, a sample otherwise
		}
		checked++
		spans = e.IndexSpans(spans[:0])
		if len(spans) != 2 {
			t.Fatalf("%d spans", len(spans))
		}
		ix, tg := spans[0], spans[1]
		if ix.Off < idxLo || ix.Off+ix.Len > idxHi || tg.Off < tagLo || tg.Off+tg.Len > tagHi {
			t.Fatalf("spans %v outside the index [%d,%d) or tags [%d,%d)", spans, idxLo, idxHi, tagLo, tagHi)
		}
		if ix.Len != 8*tg.Len || ix.Off-idxLo != 8*(tg.Off-tagLo) {
			t.Fatalf("entries span %v and tags span %v disagree", ix, tg)
		}
		for off := idxLo; off < idxHi; off++ {
			if e.mem[off] != 0 && !inside(spans, off) {
				t.Fatalf("command %d: index byte at %d written outside the spans %v", seq, off, spans)
			}
		}
		for off := tagLo; off < tagHi; off++ {
			if e.mem[off] != 0 && !inside(spans, off) {
				t.Fatalf("command %d: tag byte at %d written outside the spans %v", seq, off, spans)
			}
		}
	}
	if migrating == 0 || checked < 100 {
		t.Fatalf("checked %d states, %d while migrating: the test did not see a migration", checked, migrating)
	}
}
