package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

func TestLoadClosedLoopAndPaced(t *testing.T) {
	for _, rate := range []int{0, 2000} {
		e := start(t, gateway.Options{MaxOutstanding: 32}, gatewaytest.Options{Delay: 100 * time.Microsecond, Forget: true})
		next := func(conn int, i uint64) client.Request {
			if i%10 == 9 { // some engine rejects: cancels of unknown orders
				return client.Request{Kind: wire.TypeCancel, Symbol: sym("ETH"), OrderID: 1 << 40}
			}
			return limit(uint64(conn)<<32|i+1, wire.Side(1+i%2), 100, 1)
		}
		res, err := client.Load(context.Background(), e.addr, client.LoadOptions{Conns: 3, Window: 32, Rate: rate, Duration: 300 * time.Millisecond, Next: next})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Acked == 0 || res.Rejected == 0 || res.Acked+res.Rejected != res.Requests {
			t.Fatalf("rate %d: %+v", rate, res)
		}
		if n := uint64(e.b.SubmittedCount()); n != res.Requests {
			t.Fatalf("rate %d: node saw %d requests, load sent %d", rate, n, res.Requests)
		}
		if c := res.Latency.Count(); uint64(c) != res.Requests || res.Latency.Quantile(0.5) <= 0 {
			t.Fatalf("rate %d: %d latencies for %d requests, p50 %d", rate, c, res.Requests, res.Latency.Quantile(0.5))
		}
		if rate > 0 && res.Requests > uint64(rate) { // 0.3 s at 2000/s is 600
			t.Fatalf("paced run sent %d requests", res.Requests)
		}
		if rate > 0 {
			// Latency counts from the schedule or from a late wake-up,
			// never earlier than the schedule: request by request it is at
			// most the latency from the schedule, so every quantile is too.
			if res.FromSchedule.Count() != res.Latency.Count() || res.SenderLate.Count() != res.Latency.Count() {
				t.Fatalf("histogram counts %d %d %d", res.Latency.Count(), res.FromSchedule.Count(), res.SenderLate.Count())
			}
			for _, q := range []float64{0.5, 0.9, 0.99, 1} {
				if a, b := res.Latency.Quantile(q), res.FromSchedule.Quantile(q); a > b {
					t.Fatalf("q%.2f: latency %d ns above latency from the schedule %d ns", q, a, b)
				}
			}
		} else if res.FromSchedule != nil || res.SenderLate != nil {
			t.Fatal("closed loop with schedule histograms")
		}
		t.Logf("rate %d: %d requests, %.0f acked/s, p50 %d ns, p99 %d ns", rate, res.Requests, res.AckedRate,
			res.Latency.Quantile(0.5), res.Latency.Quantile(0.99))
	}
}

// TestLoadCountsServerStalls paces faster than a slow server can answer
// with a small window: the sender waits in Submit, and that wait must show
// in the latency (no coordinated omission) even though the sender's own
// timer lateness does not.
func TestLoadCountsServerStalls(t *testing.T) {
	e := start(t, gateway.Options{MaxOutstanding: 2}, gatewaytest.Options{Delay: 5 * time.Millisecond, Forget: true})
	next := func(conn int, i uint64) client.Request { return limit(i+1, wire.Buy, 100, 1) }
	res, err := client.Load(context.Background(), e.addr, client.LoadOptions{Conns: 1, Window: 2, Rate: 4000, Duration: 300 * time.Millisecond, Next: next})
	if err != nil {
		t.Fatal(err)
	}
	// At most 2 outcomes per 5 ms against 4 requests per ms: the backlog
	// grows all run long, so most requests wait tens of milliseconds.
	if p90 := time.Duration(res.Latency.Quantile(0.9)); p90 < 50*time.Millisecond {
		t.Fatalf("latency p90 %v with the server 10x over capacity: a stall is hidden", p90)
	}
	t.Logf("%d requests, p50 %v, p90 %v", res.Requests, time.Duration(res.Latency.Quantile(0.5)), time.Duration(res.Latency.Quantile(0.9)))
}
