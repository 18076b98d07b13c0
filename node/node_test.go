package node

import (
	"context"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
)

// TestEndToEnd sends orders through the real gateway: acks carry
// sequences after the genesis symbols, engine rejects carry a reason and a
// sequence, trades reach both owners, and everything survives a restart
// with the same state hash, including the outcome of a retried request id.
func TestEndToEnd(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	n, addr := openTest(t, "/data", opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	reports := make(chan client.Report, 16)
	maker := dial(t, addr, 1)
	takerC, err := client.Dial(ctx, addr, client.Options{ClientID: 2, OnReport: func(r client.Report) { reports <- r }})
	if err != nil {
		t.Fatal(err)
	}
	r, err := maker.NewOrder(ctx, limit("AAA", 10, wire.Sell, 150, 5))
	if err != nil || !r.Acked() || r.Seq != 3 {
		t.Fatalf("first order: %v %v, want ack at seq 3 (after 2 symbols)", r, err)
	}
	bad, err := maker.NewOrder(ctx, limit("AAA", 11, wire.Sell, 1000, 5))
	if err != nil || bad.Seq != 4 || bad.Reason != wire.ReasonPriceOutOfBand {
		t.Fatalf("out of band: %+v %v", bad, err)
	}
	unk, err := maker.NewOrder(ctx, limit("ZZZ", 12, wire.Sell, 150, 5))
	if err != nil || unk.Seq != 5 || unk.Reason != wire.ReasonUnknownSymbol {
		t.Fatalf("unknown symbol: %+v %v", unk, err)
	}
	tr, err := takerC.NewOrder(ctx, limit("AAA", 20, wire.Buy, 160, 3))
	if err != nil || !tr.Acked() || tr.Seq != 6 {
		t.Fatalf("taker: %+v %v", tr, err)
	}
	select {
	case rep := <-reports:
		if rep.Type != wire.TypeTrade || rep.Trade.Qty != 3 || rep.Trade.Price != 150 || rep.Trade.Seq != 6 {
			t.Fatalf("taker report %v", rep)
		}
	case <-ctx.Done():
		t.Fatal("no trade report")
	}
	var hash uint64
	n.Query(ctx, func(e *engine.Engine, _ *gateway.Dedupe) { hash = e.Checksum() })
	maker.Close()
	takerC.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	n2, addr2 := openTest(t, "/data", opts)
	defer n2.Close()
	if rec := n2.Recovery(); rec.Source != "snapshot" || rec.SnapshotSeq != 6 || rec.Replayed != 0 {
		t.Fatalf("recovery after clean shutdown: %+v", rec)
	}
	var hash2 uint64
	n2.Query(ctx, func(e *engine.Engine, _ *gateway.Dedupe) { hash2 = e.Checksum() })
	if hash2 != hash {
		t.Fatalf("state hash %x after restart, %x before", hash2, hash)
	}
	// Request 1 of client 1 (its first order) is remembered with its
	// original outcome by both the node's table (rebuilt from the snapshot)
	// and the gateway's copy, so a retry returns it without running again.
	for name, d := range map[string]*gateway.Dedupe{"gateway": n2.Server().Dedupe()} {
		if v, o := d.Lookup(1, 1); v != gateway.VerdictDone || o.Seq != 3 || o.Reason != 0 {
			t.Fatalf("%s table: request 1 of client 1: verdict %v outcome %+v", name, v, o)
		}
	}
	if v, o := lookup(t, n2, 1, 1); v != gateway.VerdictDone || o.Seq != 3 || o.Reason != 0 {
		t.Fatalf("node table: verdict %v outcome %+v", v, o)
	}
	// A new request from client 1 continues above its last id and the
	// order it placed before the restart is still live.
	m2 := dial(t, addr2, 1)
	defer m2.Close()
	again, err := m2.NewOrder(ctx, limit("AAA", 10, wire.Sell, 150, 5))
	if err != nil || again.ReqID != 4 || again.Seq != 7 || again.Reason != wire.ReasonDuplicateOrder {
		t.Fatalf("after restart: %+v %v, want request 4 rejected as a duplicate live order at seq 7", again, err)
	}
}

// TestEngineSpin runs orders through a node whose engine thread polls
// before it parks: every outcome still arrives, in sequence.
func TestEngineSpin(t *testing.T) {
	opts := testOptions(vfs.NewMemFS())
	opts.EngineSpin = 200 * time.Microsecond
	_, addr := openTest(t, "/data", opts)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := dial(t, addr, 1)
	defer c.Close()
	for i := range 50 {
		if i%10 == 0 {
			time.Sleep(2 * time.Millisecond) // let the engine poll out and park
		}
		r, err := c.NewOrder(ctx, limit("AAA", uint64(100+i), wire.Sell, 150, 1))
		if err != nil || !r.Acked() || r.Seq != uint64(3+i) {
			t.Fatalf("order %d: %+v %v, want an ack at seq %d", i, r, err, 3+i)
		}
	}
}
