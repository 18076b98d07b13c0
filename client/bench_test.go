package client_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

const benchWindow = 256

// BenchmarkPipelinedOutcomes: conns connections, benchWindow requests in
// flight on each, through client, gateway and the in-memory node (no
// durability delay, logs not retained): the gateway's and client's own cost
// per request over loopback. Requests are cancels of unknown orders, so the
// fake book stays empty and every one is sequenced and answered with an
// engine reject.
func BenchmarkPipelinedOutcomes(b *testing.B) {
	for _, conns := range []int{1, 8} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) { benchPipelined(b, conns) })
	}
}

func benchPipelined(b *testing.B, conns int) {
	be, err := gatewaytest.New(gatewaytest.Options{Clients: 16, Window: 1024, Queue: 1 << 16, Forget: true})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := gateway.NewServer(be, gateway.Options{Dedupe: be.Dedupe(), MaxOutstanding: benchWindow})
	if err != nil {
		b.Fatal(err)
	}
	be.Attach(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer func() { srv.Close(); be.Close() }()
	req := client.Request{Kind: wire.TypeCancel, Symbol: sym("ETH"), OrderID: 1}
	cs := make([]*client.Client, conns)
	for k := range cs {
		if cs[k], err = client.Dial(context.Background(), l.Addr().String(), client.Options{ClientID: uint64(k + 1), MaxOutstanding: benchWindow}); err != nil {
			b.Fatal(err)
		}
		defer cs[k].Close()
	}
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for k, c := range cs {
		n := b.N / conns
		if k == 0 {
			n += b.N % conns
		}
		done := make(chan client.Result, benchWindow)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if _, err := c.Submit(context.Background(), req, done); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				if r := <-done; r.Err != nil || r.Seq == 0 {
					b.Errorf("%+v", r)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// BenchmarkLoopbackFloor is the floor for BenchmarkPipelinedOutcomes: the
// same frames over a loopback connection to a goroutine that answers each
// Cancel with a Reject frame, with the same window and batching, and no
// gateway, node or client bookkeeping.
func BenchmarkLoopbackFloor(b *testing.B) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReaderSize(c, 64<<10)
		frame := make([]byte, wire.HeaderSize+24)
		out := make([]byte, 0, 64<<10)
		text := []byte("unknown_order")
		for {
			if _, err := io.ReadFull(br, frame); err != nil {
				return
			}
			out = wire.AppendReject(out, &wire.Reject{ReqID: 1, Seq: 1, Reason: wire.ReasonUnknownOrder, Text: text})
			if br.Buffered() < len(frame) || len(out) > 32<<10 {
				if _, err := c.Write(out); err != nil {
					return
				}
				out = out[:0]
			}
		}
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	slots := make(chan struct{}, benchWindow)
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		buf := make([]byte, 0, 64<<10)
		for i := 0; i < b.N; {
			slots <- struct{}{}
			buf = wire.AppendCancel(buf[:0], wire.Cancel{ReqID: uint64(i + 1), OrderID: 1, Symbol: sym("ETH")})
			i++
		more:
			for i < b.N && len(buf) < 32<<10 {
				select {
				case slots <- struct{}{}:
					buf = wire.AppendCancel(buf, wire.Cancel{ReqID: uint64(i + 1), OrderID: 1, Symbol: sym("ETH")})
					i++
				default:
					break more
				}
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	r := wire.NewReader(bufio.NewReaderSize(c, 64<<10), 0)
	var f wire.Frame
	for i := 0; i < b.N; i++ {
		if err := r.Read(&f); err != nil {
			b.Fatal(err)
		}
		<-slots
	}
}
