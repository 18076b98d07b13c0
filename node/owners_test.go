package node

import (
	"context"
	"math/rand"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
)

// TestOwnerTableDifferential drives the owner table and a map with the
// same random puts and removes (many collisions: a small table, few
// symbols) and checks every lookup and the count, and that every stored
// entry is reachable from its home slot without crossing an empty one.
func TestOwnerTableDifferential(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewSource(seed))
	const maxOrders = 500
	mem := make([]byte, ownerTableSize(maxOrders))
	ot, err := initOwners(mem, maxOrders)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		s  engine.Symbol
		id engine.OrderID
	}
	ref := map[key]uint64{}
	syms := []engine.Symbol{engine.MustSymbol("A"), engine.MustSymbol("B")}
	for step := 0; step < 200_000; step++ {
		k := key{syms[rng.Intn(2)], engine.OrderID(1 + rng.Intn(800))}
		switch {
		case rng.Intn(2) == 0 && len(ref) < maxOrders:
			c := uint64(1 + rng.Intn(9))
			ot.put(k.s, k.id, c)
			ref[k] = c
		default:
			ot.remove(k.s, k.id)
			delete(ref, k)
		}
		q := key{syms[rng.Intn(2)], engine.OrderID(1 + rng.Intn(800))}
		if got, want := ot.get(q.s, q.id), ref[q]; got != want {
			t.Fatalf("seed %d step %d: owner of %v = %d, want %d", seed, step, q, got, want)
		}
		if ot.count() != uint64(len(ref)) {
			t.Fatalf("seed %d step %d: count %d, want %d", seed, step, ot.count(), len(ref))
		}
	}
	for k, c := range ref {
		if ot.get(k.s, k.id) != c {
			t.Fatalf("seed %d: lost %v", seed, k)
		}
	}
	again, err := openOwners(mem)
	if err != nil || again.count() != uint64(len(ref)) {
		t.Fatalf("reopen: %v", err)
	}
	mem[0] ^= 1
	if _, err := openOwners(mem); err == nil {
		t.Fatal("damaged magic accepted")
	}
}

// TestMakerReportAfterRestart checks that the owner of an order resting
// since before a restart (recovered from a snapshot) still gets its
// execution reports.
func TestMakerReportAfterRestart(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	n, addr := openTest(t, "/data", opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := dial(t, addr, 11)
	if r, err := m.NewOrder(ctx, limit("AAA", 5, wire.Sell, 150, 5)); err != nil || !r.Acked() {
		t.Fatalf("maker: %v %v", r, err)
	}
	m.Close()
	if err := n.Close(); err != nil { // final snapshot holds the order and its owner
		t.Fatal(err)
	}
	n2, addr2 := openTest(t, "/data", opts)
	defer n2.Close()
	if n2.Recovery().Source != "snapshot" || n2.Recovery().Replayed != 0 {
		t.Fatalf("recovery %+v", n2.Recovery())
	}
	reports := make(chan client.Report, 4)
	m2, err := client.Dial(ctx, addr2, client.Options{ClientID: 11, OnReport: func(r client.Report) { reports <- r }})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	tk := dial(t, addr2, 12)
	defer tk.Close()
	if r, err := tk.NewOrder(ctx, limit("AAA", 9, wire.Buy, 150, 2)); err != nil || !r.Acked() {
		t.Fatalf("taker: %v %v", r, err)
	}
	select {
	case r := <-reports:
		if r.Type != wire.TypeTrade || r.Trade.MakerOrderID != 5 || r.Trade.Qty != 2 {
			t.Fatalf("maker report %v", r)
		}
	case <-ctx.Done():
		t.Fatal("the maker got no trade report after the restart")
	}
}

// BenchmarkOwnerRun runs batches of owner-table changes the way replay's
// owner goroutine does, on a table of a million resting orders (much
// larger than the cache): each op a new order (put) or the removal of a
// random resting one.
func BenchmarkOwnerRun(b *testing.B) {
	const maxOrders = 1 << 21
	mem := make([]byte, ownerTableSize(maxOrders))
	ot, err := initOwners(mem, maxOrders)
	if err != nil {
		b.Fatal(err)
	}
	sym := engine.MustSymbol("BENCH")
	rng := rand.New(rand.NewSource(1))
	live := make([]engine.OrderID, 0, 1<<20)
	next := engine.OrderID(0)
	for range 1 << 20 {
		next++
		ot.put(sym, next, 7)
		live = append(live, next)
	}
	ops := make([]ownerOp, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(ops) {
		b.StopTimer()
		for k := range ops {
			if rng.Intn(2) == 0 {
				next++
				ops[k] = ownerOp{sym, next, 7}
				live = append(live, next)
			} else {
				j := rng.Intn(len(live))
				ops[k] = ownerOp{sym, live[j], 0}
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
			}
		}
		b.StartTimer()
		ot.run(ops)
	}
}
