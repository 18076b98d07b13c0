package engine_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/perf"
)

func workload(t *testing.T, ops int, seed uint64) []engine.Command {
	t.Helper()
	var buf bytes.Buffer
	if err := perf.WriteWorkload(&buf, perf.GenOptions{Ops: ops, Seed: seed}); err != nil {
		t.Fatal(err)
	}
	cmds, err := engine.ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != ops {
		t.Fatalf("%d commands, want %d", len(cmds), ops)
	}
	return cmds
}

func replay(t *testing.T, e *engine.Engine, cmds []engine.Command, events *[]engine.Event) {
	t.Helper()
	var out []engine.Event
	var err error
	for i := range cmds {
		if out, err = e.Apply(e.LastSeq()+1, &cmds[i], out[:0]); err != nil {
			t.Fatal(err)
		}
		if events != nil {
			*events = append(*events, out...)
		}
	}
}

// TestDeterminism: the same command file twice gives byte-identical arenas
// and equal event hashes; an attached copy of the arena taken half-way
// continues exactly as the original.
func TestDeterminism(t *testing.T) {
	ops := 300_000
	if testing.Short() {
		ops = 50_000
	}
	cmds := workload(t, ops, 7)
	cfg := perf.GenConfig(1)
	a, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var evA, evB []engine.Event
	half := len(cmds) / 2
	replay(t, a, cmds[:half], &evA)
	replay(t, b, cmds[:half], &evB)

	// Snapshot a's arena the way the snapshotter does: copy the bytes.
	mem, err := engine.AllocArena(len(a.Arena()))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.FreeArena(mem)
	copy(mem, a.Arena())
	c, err := engine.Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.LastSeq() != uint64(half) || c.EventHash() != a.EventHash() || c.Checksum() != a.Checksum() {
		t.Fatalf("attached copy differs: seq %d hash %x/%x", c.LastSeq(), c.EventHash(), a.EventHash())
	}
	evC := append([]engine.Event(nil), evA...)
	replay(t, a, cmds[half:], &evA)
	replay(t, b, cmds[half:], &evB)
	replay(t, c, cmds[half:], &evC)

	if !bytes.Equal(a.Arena(), b.Arena()) {
		t.Fatal("two replays of the same commands left different arenas")
	}
	if !bytes.Equal(a.Arena(), c.Arena()) {
		t.Fatal("the attached copy diverged from the original")
	}
	if a.EventHash() != b.EventHash() || a.EventHash() != c.EventHash() || a.Checksum() != c.Checksum() {
		t.Fatalf("hashes differ: %x %x %x", a.EventHash(), b.EventHash(), c.EventHash())
	}
	if !reflect.DeepEqual(evA, evB) || !reflect.DeepEqual(evA, evC) {
		t.Fatal("event streams differ")
	}
	for _, e := range []*engine.Engine{a, c} {
		if err := e.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// Close of an attached engine leaves the memory to its owner.
	if mem[0] == 0 && mem[1] == 0 {
		t.Fatal("attached arena cleared by Close")
	}
	st := a.Stats()
	if st.RestingOrders < 1000 || st.Trades == 0 || st.Cancels == 0 || st.Replaces == 0 {
		t.Fatalf("workload too tame to prove anything: %+v", st)
	}
	// A different workload must give a different hash (the hash is not
	// blind).
	d, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	replay(t, d, workload(t, ops, 8), nil)
	if d.EventHash() == a.EventHash() || d.Checksum() == a.Checksum() {
		t.Fatal("different workloads, same hashes")
	}
}

// TestDeterminismMidMigration copies the arena while the order index is
// migrating into a larger table (several times, at different growths) and
// checks that each copy, attached and fed the rest of the commands, ends
// byte-identical to the original with the same events.
func TestDeterminismMidMigration(t *testing.T) {
	ops := 200_000
	if testing.Short() {
		ops = 60_000
	}
	cmds := workload(t, ops, 11)
	cfg := perf.GenConfig(1)
	a, err := engine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	type cp struct {
		e      *engine.Engine
		from   int
		events []engine.Event
	}
	var copies []cp
	var evA []engine.Event
	lastSize := 0
	for i := range cmds {
		st := a.Stats()
		// Copy once per growth, in the middle of its migration.
		if st.IndexDraining != 0 && st.IndexSize != lastSize && st.IndexDraining >= 1024 {
			lastSize = st.IndexSize
			mem, err := engine.AllocArena(len(a.Arena()))
			if err != nil {
				t.Fatal(err)
			}
			defer engine.FreeArena(mem)
			copy(mem, a.Arena())
			c, err := engine.Attach(mem)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Validate(); err != nil {
				t.Fatalf("copy at command %d, mid-migration: %v", i, err)
			}
			copies = append(copies, cp{e: c, from: i})
		}
		replay(t, a, cmds[i:i+1], &evA)
	}
	if len(copies) < 3 {
		t.Fatalf("only %d copies taken mid-migration: the workload does not grow the index enough", len(copies))
	}
	for _, c := range copies {
		replay(t, c.e, cmds[c.from:], &c.events)
		if !bytes.Equal(c.e.Arena(), a.Arena()) || c.e.EventHash() != a.EventHash() || c.e.Checksum() != a.Checksum() {
			t.Fatalf("copy taken at command %d diverged", c.from)
		}
		if n := len(evA) - len(c.events); n < 0 || !reflect.DeepEqual(evA[n:], c.events) {
			t.Fatalf("copy taken at command %d emitted different events", c.from)
		}
	}
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestAttachRejects(t *testing.T) {
	e, err := engine.New(engine.Config{MaxOrders: 100, MaxSymbols: 2, MaxLevels: 100,
		Symbols: []engine.SymbolSpec{{Symbol: engine.MustSymbol("A"), Tick: 1, BandMin: 1, BandMax: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for i, l := range []string{"N,A,1,1,B,L,GTC,10,5", "N,A,2,1,S,L,GTC,20,5"} {
		c, err := engine.ParseCommand([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Apply(uint64(i+1), &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	good := e.Arena()
	// The order index starts at the offset in header bytes 80..88.
	firstEntry := func(b []byte) []byte {
		off := binary.LittleEndian.Uint64(b[80:])
		for p := off; ; p += 8 {
			if binary.LittleEndian.Uint64(b[p:]) != 0 {
				return b[p : p+8]
			}
		}
	}
	corrupt := func(name string, f func(b []byte) []byte) {
		t.Helper()
		mem, err := engine.AllocArena(len(good))
		if err != nil {
			t.Fatal(err)
		}
		defer engine.FreeArena(mem)
		copy(mem, good)
		b := f(mem)
		if _, err := engine.Attach(b); !errors.Is(err, engine.ErrLayout) {
			t.Errorf("%s: Attach = %v, want ErrLayout", name, err)
		}
	}
	corrupt("magic", func(b []byte) []byte { b[0] ^= 1; return b })
	corrupt("layout version", func(b []byte) []byte { b[8]++; return b })
	corrupt("truncated", func(b []byte) []byte { return b[:len(b)-4096] })
	corrupt("tiny", func(b []byte) []byte { return b[:100] })
	corrupt("max orders", func(b []byte) []byte { b[26] = 0x40; return b })
	corrupt("symbol count", func(b []byte) []byte { b[52] = 200; return b })
	corrupt("symbol tick", func(b []byte) []byte { clear(b[4096+8 : 4096+16]); return b })
	corrupt("symbol levels outside the heap", func(b []byte) []byte { b[4096+56+7] = 0x10; return b })
	corrupt("best level outside the band", func(b []byte) []byte { b[4096+56+24] = 0xFF; b[4096+56+25] = 0x7F; return b })
	corrupt("order index slot past the pool", func(b []byte) []byte { firstEntry(b)[0] = 0xF0; return b })
	corrupt("order index entry lost", func(b []byte) []byte { clear(firstEntry(b)); return b })
	if n, err := engine.PeekArenaSize(good[:engine.ArenaHeaderSize]); err != nil || n != len(good) {
		t.Fatalf("PeekArenaSize = %d, %v; arena is %d", n, err, len(good))
	}
	bad := bytes.Clone(good[:engine.ArenaHeaderSize])
	bad[8]++
	if _, err := engine.PeekArenaSize(bad); !errors.Is(err, engine.ErrLayout) {
		t.Fatalf("PeekArenaSize of another layout version: %v", err)
	}
	if _, err := engine.Attach(good); err != nil {
		t.Fatalf("unmodified arena: %v", err)
	}
}
