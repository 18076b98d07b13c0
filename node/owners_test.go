package node

import (
	"context"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
)

// TestOwnerTableHeader checks that a table reopens with its entries, that
// a damaged header or one for another order capacity is refused, and that
// slots out of range read as no owner.
func TestOwnerTableHeader(t *testing.T) {
	const maxOrders = 500
	mem := make([]byte, ownerTableSize(maxOrders))
	ot, err := initOwners(mem, maxOrders)
	if err != nil {
		t.Fatal(err)
	}
	accepted := func(slot uint32) []engine.Event { return []engine.Event{{Kind: engine.EvAccepted, Slot: slot}} }
	ot.track(7, accepted(1))
	ot.track(9, accepted(maxOrders))
	ot.track(5, accepted(maxOrders+1))                                                         // out of range: ignored
	ot.track(8, []engine.Event{{Kind: engine.EvRejected}, {Kind: engine.EvAccepted, Slot: 2}}) // not accepted
	again, err := openOwners(mem, maxOrders)
	if err != nil {
		t.Fatal(err)
	}
	for slot, want := range map[uint32]uint64{0: 0, 1: 7, 2: 0, maxOrders: 9, maxOrders + 1: 0, 1 << 31: 0} {
		if got := again.get(slot); got != want {
			t.Errorf("owner of slot %d = %d, want %d", slot, got, want)
		}
	}
	ot.track(0, accepted(1)) // an order placed by no client takes over the slot
	if got := ot.get(1); got != 0 {
		t.Errorf("slot 1 reused by an order of no client still reads owner %d", got)
	}
	if _, err := openOwners(mem, maxOrders+1); err == nil {
		t.Error("a table for another order capacity accepted")
	}
	if _, err := openOwners(mem[:len(mem)-1], maxOrders); err == nil {
		t.Error("a short table accepted")
	}
	if _, err := initOwners(mem[:len(mem)-1], maxOrders); err == nil {
		t.Error("formatted a table in too few bytes")
	}
	mem[0] ^= 1
	if _, err := openOwners(mem, maxOrders); err == nil {
		t.Error("damaged magic accepted")
	}
}

// TestReportsFollowSlotReuse has a taker fill a resting maker and rest in
// what is then the maker's free slot, all in one command: later trades with
// the taker's order must report to the taker's client, not the maker's,
// and the maker's fill to the maker's, before and after a restart that
// replays the log.
func TestReportsFollowSlotReuse(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	opts.NoFinalSnapshot = true
	n, addr := openTest(t, "/data", opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	listen := func(addr string, cid uint64) (*client.Client, chan client.Report) {
		ch := make(chan client.Report, 8)
		c, err := client.Dial(ctx, addr, client.Options{ClientID: cid, OnReport: func(r client.Report) { ch <- r }})
		if err != nil {
			t.Fatal(err)
		}
		return c, ch
	}
	expect := func(who string, ch chan client.Report, maker uint64, qty int64) {
		t.Helper()
		select {
		case r := <-ch:
			if r.Type != wire.TypeTrade || r.Trade.MakerOrderID != maker || r.Trade.Qty != qty {
				t.Fatalf("%s got %v, want a trade of %d against maker order %d", who, r, qty, maker)
			}
		case <-ctx.Done():
			t.Fatalf("%s got no report", who)
		}
	}
	a, ra := listen(addr, 21)
	b, rb := listen(addr, 22)
	if r, err := a.NewOrder(ctx, limit("AAA", 1, wire.Sell, 150, 5)); err != nil || !r.Acked() {
		t.Fatalf("maker: %v %v", r, err)
	}
	if r, err := b.NewOrder(ctx, limit("AAA", 2, wire.Buy, 150, 7)); err != nil || !r.Acked() {
		t.Fatalf("taker: %v %v", r, err)
	}
	expect("maker 21", ra, 1, 5)
	expect("taker 22", rb, 1, 5)
	for round := 0; round < 2; round++ {
		c, rc := listen(addr, 23)
		if r, err := c.NewOrder(ctx, limit("AAA", uint64(10+round), wire.Sell, 150, 1)); err != nil || !r.Acked() {
			t.Fatalf("round %d: second taker: %v %v", round, r, err)
		}
		expect("resting taker 22", rb, 2, 1)
		expect("second taker 23", rc, 2, 1)
		select {
		case r := <-ra:
			t.Fatalf("round %d: client 21, whose order left the book, got %v", round, r)
		default:
		}
		c.Close()
		if round == 1 {
			break
		}
		a.Close()
		b.Close()
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		n, addr = openTest(t, "/data", opts)
		if n.Recovery().Replayed == 0 {
			t.Fatalf("recovery %+v replayed nothing", n.Recovery())
		}
		a, ra = listen(addr, 21)
		b, rb = listen(addr, 22)
	}
	a.Close()
	b.Close()
	n.Close()
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
