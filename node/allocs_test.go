package node

import (
	"context"
	"runtime"
	"testing"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
)

// TestSequencerAllocs checks that the engine goroutine's steady-state path
// (encode, log append, apply, idempotency table, owner table, reports,
// release) does not allocate per command. It drives it from inside Query,
// which runs on the engine goroutine.
func TestSequencerAllocs(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	// The OS filesystem: the in-memory one allocates on its own writes.
	opts := testOptions(vfs.OS)
	n, _ := openTest(t, t.TempDir(), opts)
	defer n.Close()
	s, _ := wire.MakeSymbol("AAA")
	var id, reqID uint64
	step := func() {
		id++
		reqID++
		r := request{req: gateway.Request{Kind: wire.TypeNewOrder, ClientID: 1, ReqID: reqID, Symbol: s, OrderID: id,
			Account: 1, Price: 100 + int64(id%50), Qty: 1, Side: wire.Buy, Type: wire.Limit, TIF: wire.GTC}}
		n.sequence(&r)
		reqID++
		r = request{req: gateway.Request{Kind: wire.TypeCancel, ClientID: 1, ReqID: reqID, Symbol: s, OrderID: id}}
		n.sequence(&r)
		n.release()
	}
	var allocs float64
	err := n.Query(context.Background(), func(*engine.Engine, *gateway.Dedupe) {
		for i := 0; i < 20_000; i++ {
			step()
		}
		// AllocsPerRun rounds down; count the total instead, so that
		// anything but the occasional amortized slice growth fails.
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := 0; i < 5000; i++ {
			step()
		}
		runtime.ReadMemStats(&after)
		allocs = float64(after.Mallocs - before.Mallocs)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Err(); err != nil {
		t.Fatal(err)
	}
	// 10,000 commands: one allocation per command would be 10,000. What
	// remains is the growth of the outcome queues while the disk lags
	// (amortized, bounded by what is in flight) and the log writer's and
	// runtime's own, which ReadMemStats cannot tell apart.
	if allocs > 1000 {
		t.Fatalf("%.0f allocations for 5000 new+cancel pairs on the engine goroutine, want no per-command allocation", allocs)
	}
	t.Logf("%.0f allocations for 5000 new+cancel pairs", allocs)
}
