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
		t.Logf("rate %d: %d requests, %.0f acked/s, p50 %d ns, p99 %d ns", rate, res.Requests, res.AckedRate,
			res.Latency.Quantile(0.5), res.Latency.Quantile(0.99))
	}
}
