package cow

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/mmapsnap"
)

// churn returns a seeded stream of commands for one symbol: passive orders
// around a mid, cancels of live orders, and IOC orders that take the top.
func churn(n int, seed uint64) []engine.Command {
	sym := engine.MustSymbol("COWT")
	rng := rand.New(rand.NewPCG(seed, 1))
	cmds := make([]engine.Command, 0, n+1)
	cmds = append(cmds, engine.Command{Kind: engine.CmdDefineSymbol, Symbol: sym, Tick: 1, BandMin: 90_000, BandMax: 110_000})
	var live []engine.OrderID
	next := engine.OrderID(0)
	for len(cmds) < n {
		switch r := rng.IntN(100); {
		case r < 55 || len(live) == 0:
			next++
			c := engine.Command{Kind: engine.CmdNew, Symbol: sym, ID: next, Account: engine.Account(rng.IntN(50)), Type: engine.Limit, TIF: engine.GTC, Qty: engine.Qty(1 + rng.IntN(100))}
			d := engine.Price(1 + rng.IntN(500))
			if rng.IntN(2) == 0 {
				c.Side, c.Price = engine.Buy, 100_000-d
			} else {
				c.Side, c.Price = engine.Sell, 100_000+d
			}
			live = append(live, next)
			cmds = append(cmds, c)
		case r < 90:
			i := rng.IntN(len(live))
			cmds = append(cmds, engine.Command{Kind: engine.CmdCancel, Symbol: sym, ID: live[i]})
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
		default:
			next++
			c := engine.Command{Kind: engine.CmdNew, Symbol: sym, ID: next, Account: 99, Type: engine.Limit, TIF: engine.IOC, Qty: engine.Qty(1 + rng.IntN(300))}
			if rng.IntN(2) == 0 {
				c.Side, c.Price = engine.Buy, 110_000
			} else {
				c.Side, c.Price = engine.Sell, 90_000
			}
			cmds = append(cmds, c)
		}
	}
	return cmds
}

// TestEngineSnapshotRecovers snapshots a live engine through the node's
// sink while it keeps applying commands, then for each snapshot loads the
// file into a fresh arena, attaches an engine to it, and checks that it is
// exactly the engine at the snapshot's sequence (arena checksum taken at
// the fork) and that replaying the rest of the command stream on it ends
// in the same state and the same event hash as the engine that never
// stopped.
func TestEngineSnapshotRecovers(t *testing.T) {
	n, every := 300_000, 15_000
	if testing.Short() || raceEnabled {
		n, every = 60_000, 5_000 // the race detector makes Apply ~20x slower
	}
	cmds := churn(n, 7)
	s, _ := startTest(t, "mmapsnap-keepall", func(o *Options) { o.RestoreHugePages = true })
	live, err := engine.New(engine.Config{MaxOrders: 1 << 17, MaxSymbols: 2, MaxLevels: 20_001})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	type taken struct {
		seq uint64
		sum uint64
		r   Result
	}
	var snaps []taken
	var pending *taken
	out := make([]engine.Event, 0, 256)
	for i := range cmds {
		seq := uint64(i + 1)
		if out, err = live.Apply(seq, &cmds[i], out[:0]); err != nil {
			t.Fatal(err)
		}
		if i%every != every/2 {
			continue
		}
		// A snapshot every `every` commands; the previous one ran while
		// the engine applied the commands since.
		if pending != nil {
			pending.r = await(t, s, time.Minute)
			snaps = append(snaps, *pending)
		}
		sum := live.Checksum() // test only: reads the whole arena
		if _, err := s.Snapshot(live.Arena(), Meta{Seq: live.LastSeq(), LayoutVersion: engine.LayoutVersion, StateChecksum: sum}); err != nil {
			t.Fatal(err)
		}
		pending = &taken{seq: live.LastSeq(), sum: sum}
	}
	if pending != nil {
		pending.r = await(t, s, time.Minute)
		snaps = append(snaps, *pending)
	}
	if len(snaps) < 10 {
		t.Fatalf("only %d snapshots", len(snaps))
	}
	for _, sn := range snaps {
		if sn.r.Err != nil {
			t.Fatal(sn.r.Err)
		}
		mem, err := engine.AllocArena(len(live.Arena()))
		if err != nil {
			t.Fatal(err)
		}
		info, err := mmapsnap.Load(sn.r.Path, mem, mmapsnap.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e, err := engine.Attach(mem)
		if err != nil {
			t.Fatal(err)
		}
		if e.LastSeq() != sn.seq || info.Seq != sn.seq || info.StateChecksum != sn.sum || e.Checksum() != sn.sum {
			t.Fatalf("snapshot of seq %d: engine at seq %d, file seq %d, checksum %x (file %x), want %x",
				sn.seq, e.LastSeq(), info.Seq, e.Checksum(), info.StateChecksum, sn.sum)
		}
		for i := int(sn.seq); i < len(cmds); i++ {
			if out, err = e.Apply(uint64(i+1), &cmds[i], out[:0]); err != nil {
				t.Fatal(err)
			}
		}
		if e.EventHash() != live.EventHash() || e.Checksum() != live.Checksum() {
			t.Fatalf("snapshot of seq %d replayed to %d: event hash %x, want %x", sn.seq, len(cmds), e.EventHash(), live.EventHash())
		}
		e.Close()
		engine.FreeArena(mem)
	}
	t.Logf("%d snapshots of a live engine recovered and replayed to seq %d", len(snaps), len(cmds))
}
