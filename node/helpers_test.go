package node

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// testManifest is a small arena: two symbols, a few thousand orders.
func testManifest() Manifest {
	return Manifest{
		MaxOrders: 4096, MaxSymbols: 4, MaxLevels: 256, LevelCapacity: 1024,
		DedupeClients: 256, DedupeWindow: 1024,
		Symbols: []engine.SymbolSpec{
			{Symbol: engine.MustSymbol("AAA"), Tick: 1, BandMin: 100, BandMax: 200},
			{Symbol: engine.MustSymbol("BBB"), Tick: 5, BandMin: 1000, BandMax: 1500},
		},
	}
}

func testOptions(fs vfs.FS) Options {
	return Options{
		FS:               fs,
		Manifest:         testManifest(),
		Log:              walfile.Options{SegmentSize: 256 << 10, Buffered: true},
		SnapshotInterval: -1,
		SnapshotEvery:    1 << 40,
		Logf:             func(string, ...any) {},
	}
}

// openTest opens a node on dir with a loopback listener.
func openTest(t testing.TB, dir string, opts Options) (*Node, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = l
	n, err := Open(dir, opts)
	if err != nil {
		l.Close()
		t.Fatalf("Open: %v", err)
	}
	return n, l.Addr().String()
}

func dial(t testing.TB, addr string, cid uint64) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, addr, client.Options{ClientID: cid})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return c
}

func sym(s string) wire.Symbol {
	w, ok := wire.MakeSymbol(s)
	if !ok {
		panic(s)
	}
	return w
}

func limit(symbol string, id uint64, side wire.Side, price, qty int64) client.Request {
	return client.Request{Kind: wire.TypeNewOrder, Symbol: sym(symbol), OrderID: id, Account: 1,
		Price: price, Qty: qty, Side: side, Type: wire.Limit, TIF: wire.GTC}
}

// lookup asks the node's own idempotency table for a request's outcome.
func lookup(t testing.TB, n *Node, cid, reqID uint64) (gateway.Verdict, gateway.Outcome) {
	t.Helper()
	var v gateway.Verdict
	var o gateway.Outcome
	if err := n.Query(context.Background(), func(_ *engine.Engine, d *gateway.Dedupe) { v, o = d.Lookup(cid, reqID) }); err != nil {
		t.Fatal(err)
	}
	return v, o
}
