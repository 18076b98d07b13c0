package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

type env struct {
	b    *gatewaytest.Backend
	srv  *gateway.Server
	addr string
}

func start(t *testing.T, gopts gateway.Options, bopts gatewaytest.Options) *env {
	t.Helper()
	return startAt(t, "127.0.0.1:0", gopts, bopts)
}

func startAt(t *testing.T, addr string, gopts gateway.Options, bopts gatewaytest.Options) *env {
	t.Helper()
	if bopts.Clients == 0 {
		bopts.Clients, bopts.Window = 64, 1024
	}
	b, err := gatewaytest.New(bopts)
	if err != nil {
		t.Fatal(err)
	}
	gopts.Dedupe = b.Dedupe()
	srv, err := gateway.NewServer(b, gopts)
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(srv)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		b.Release()
		srv.Close()
		b.Close()
		if v := b.Violations(); len(v) > 0 {
			t.Errorf("%d requests reached the node twice, first: %v", len(v), v[0])
		}
	})
	return &env{b: b, srv: srv, addr: l.Addr().String()}
}

func dial(t *testing.T, addr string, opts client.Options) *client.Client {
	t.Helper()
	c, err := client.Dial(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sym(s string) wire.Symbol {
	v, _ := wire.MakeSymbol(s)
	return v
}

func limit(id uint64, side wire.Side, price, qty int64) client.Request {
	return client.Request{Kind: wire.TypeNewOrder, Symbol: sym("ETH"), OrderID: id, Account: 1, Side: side, Type: wire.Limit, TIF: wire.GTC, Price: price, Qty: qty}
}

func TestSynchronousCalls(t *testing.T) {
	e := start(t, gateway.Options{}, gatewaytest.Options{Delay: 100 * time.Microsecond})
	ctx := context.Background()
	var mu sync.Mutex
	var makerReports, takerReports []client.Report
	maker := dial(t, e.addr, client.Options{ClientID: 1, OnReport: func(r client.Report) {
		mu.Lock()
		makerReports = append(makerReports, r)
		mu.Unlock()
	}})
	taker := dial(t, e.addr, client.Options{ClientID: 2, OnReport: func(r client.Report) {
		mu.Lock()
		takerReports = append(takerReports, r)
		mu.Unlock()
	}})
	if h := maker.ServerHello(); h.Status != wire.HelloReady || h.LastReqID != 0 {
		t.Fatalf("hello %+v", h)
	}
	r, err := maker.NewOrder(ctx, limit(10, wire.Sell, 100, 5))
	if err != nil || !r.Acked() || r.Seq != 1 || r.ReqID != 1 {
		t.Fatalf("new order: %+v %v", r, err)
	}
	r, err = taker.NewOrder(ctx, limit(20, wire.Buy, 101, 2))
	if err != nil || !r.Acked() || r.Seq != 2 {
		t.Fatalf("crossing order: %+v %v", r, err)
	}
	r, err = maker.Replace(ctx, sym("ETH"), 10, 99, 1)
	if err != nil || !r.Acked() || r.Seq != 3 {
		t.Fatalf("replace: %+v %v", r, err)
	}
	r, err = maker.Cancel(ctx, sym("ETH"), 10)
	if err != nil || !r.Acked() || r.Seq != 4 {
		t.Fatalf("cancel: %+v %v", r, err)
	}
	r, err = maker.Cancel(ctx, sym("ETH"), 10)
	if err != nil || r.Acked() || r.Reason != wire.ReasonUnknownOrder || r.Seq != 5 {
		t.Fatalf("cancel of a gone order: %+v %v", r, err)
	}
	r, err = maker.NewOrder(ctx, limit(11, wire.Sell, 0, 5))
	if err != nil || r.Reason != wire.ReasonInvalidPrice || r.Seq != 0 {
		t.Fatalf("invalid price: %+v %v", r, err)
	}
	st, err := maker.Status(ctx)
	if err != nil || st.Seq != 5 || st.DurableSeq != 5 || st.State != wire.StateReady {
		t.Fatalf("status %+v %v", st, err)
	}
	if _, err := maker.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	// Reports precede the status reply on the same connection.
	if _, err := taker.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	trade := wire.Trade{Seq: 2, MakerOrderID: 10, TakerOrderID: 20, Price: 100, Qty: 2, Symbol: sym("ETH"), TakerSide: wire.Buy}
	if len(takerReports) != 1 || takerReports[0].Trade != trade {
		t.Fatalf("taker reports %+v", takerReports)
	}
	if len(makerReports) != 3 || makerReports[0].Trade != trade || makerReports[1].Type != wire.TypeReplaced || makerReports[2].Cancelled.Qty != 1 {
		t.Fatalf("maker reports %+v", makerReports)
	}
}

func TestPipelinedSubmit(t *testing.T) {
	const n = 5000
	e := start(t, gateway.Options{MaxOutstanding: 64}, gatewaytest.Options{Delay: 50 * time.Microsecond})
	c := dial(t, e.addr, client.Options{ClientID: 7, MaxOutstanding: 64})
	done := make(chan client.Result, n)
	go func() {
		for i := uint64(1); i <= n; i++ {
			if _, err := c.Submit(context.Background(), limit(i, wire.Side(1+i%2), 100+int64(i%5), 1), done); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[uint64]bool{}
	for i := 0; i < n; i++ {
		r := <-done
		if r.Err != nil || r.Seq == 0 || seen[r.Seq] {
			t.Fatalf("result %+v", r)
		}
		seen[r.Seq] = true
	}
	if got := len(e.b.Submitted()); got != n {
		t.Fatalf("node saw %d", got)
	}
}

// proxy forwards TCP connections and can cut them all, to lose a
// connection at a chosen moment.
type proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.cut() })
	go func() {
		for {
			a, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				a.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, a, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(a, b); a.Close() }()
			go func() { _, _ = io.Copy(b, a); b.Close() }()
		}
	}()
	return p
}

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestReconnectResendsUnanswered: the connection drops with requests in
// flight (some durable meanwhile, some not), and new requests are made
// while it is down. After the reconnect every request has exactly one
// outcome and the node ran each exactly once.
func TestReconnectResendsUnanswered(t *testing.T) {
	e := start(t, gateway.Options{}, gatewaytest.Options{})
	p := newProxy(t, e.addr)
	c := dial(t, p.l.Addr().String(), client.Options{ClientID: 3, Reconnect: true})
	done := make(chan client.Result, 100)
	ctx := context.Background()
	for i := uint64(1); i <= 5; i++ { // acknowledged before the cut
		if r, err := c.NewOrder(ctx, limit(i, wire.Buy, 10, 1)); err != nil || !r.Acked() {
			t.Fatalf("%+v %v", r, err)
		}
	}
	e.b.Hold()
	for i := uint64(6); i <= 15; i++ {
		if _, err := c.Submit(ctx, limit(i, wire.Buy, 10, 1), done); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "15 submissions", func() bool { return len(e.b.Submitted()) == 15 })
	p.cut()
	e.b.Release() // outcomes become durable while the client is away
	for i := uint64(16); i <= 20; i++ {
		if _, err := c.Submit(ctx, limit(i, wire.Buy, 10, 1), done); err != nil {
			t.Fatal(err)
		}
	}
	got := map[uint64]client.Result{}
	for len(got) < 15 {
		select {
		case r := <-done:
			if r.Err != nil || !r.Acked() {
				t.Fatalf("result %+v", r)
			}
			if _, dup := got[r.ReqID]; dup {
				t.Fatalf("two results for request %d", r.ReqID)
			}
			got[r.ReqID] = r
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d results", len(got))
		}
	}
	for id := uint64(6); id <= 20; id++ {
		if got[id].Seq != id {
			t.Fatalf("request %d: seq %d", id, got[id].Seq)
		}
	}
	if n := len(e.b.Submitted()); n != 20 {
		t.Fatalf("node ran %d requests, want 20", n)
	}
	select {
	case r := <-done:
		t.Fatalf("extra result %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
}

func TestConnectionLossWithoutReconnect(t *testing.T) {
	e := start(t, gateway.Options{}, gatewaytest.Options{})
	p := newProxy(t, e.addr)
	c := dial(t, p.l.Addr().String(), client.Options{ClientID: 4})
	e.b.Hold()
	done := make(chan client.Result, 1)
	if _, err := c.Submit(context.Background(), limit(1, wire.Buy, 10, 1), done); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the submission", func() bool { return len(e.b.Submitted()) == 1 })
	p.cut()
	r := <-done
	if !errors.Is(r.Err, client.ErrConnLost) {
		t.Fatalf("pending result %+v", r)
	}
	if _, err := c.NewOrder(context.Background(), limit(2, wire.Buy, 10, 1)); !errors.Is(err, client.ErrConnLost) {
		t.Fatalf("after loss: %v", err)
	}
	// A new client with the same id learns the outcome with the same id.
	e.b.Release()
	c2 := dial(t, e.addr, client.Options{ClientID: 4, FirstReqID: 1})
	if c2.ServerHello().LastReqID != 1 {
		t.Fatalf("LastReqID %d", c2.ServerHello().LastReqID)
	}
	r2, err := c2.NewOrder(context.Background(), limit(3, wire.Buy, 10, 1))
	if err != nil || r2.ReqID != 2 || !r2.Acked() {
		t.Fatalf("next request: %+v %v", r2, err)
	}
}

func TestRecoveringServer(t *testing.T) {
	e := start(t, gateway.Options{}, gatewaytest.Options{Recovering: true})
	c := dial(t, e.addr, client.Options{ClientID: 5})
	if c.ServerHello().Status != wire.HelloRecovering {
		t.Fatalf("hello %+v", c.ServerHello())
	}
	r, err := c.NewOrder(context.Background(), limit(1, wire.Buy, 10, 1))
	if err != nil || r.Reason != wire.ReasonNotReady || !r.Reason.Retryable() {
		t.Fatalf("%+v %v", r, err)
	}
}

func TestDialVersionMismatch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.ReadFull(c, make([]byte, wire.HeaderSize+16))
		b := wire.AppendServerHello(nil, wire.ServerHello{Version: 9, Status: wire.HelloVersionUnsupported, ClientID: 1})
		b = wire.AppendError(b, &wire.Error{Code: wire.ErrCodeVersion})
		_, _ = c.Write(b)
	}()
	_, err = client.Dial(context.Background(), l.Addr().String(), client.Options{ClientID: 1})
	if !errors.Is(err, wire.ErrVersion) {
		t.Fatalf("Dial: %v", err)
	}
}

func TestCloseFailsPending(t *testing.T) {
	e := start(t, gateway.Options{}, gatewaytest.Options{})
	c, err := client.Dial(context.Background(), e.addr, client.Options{ClientID: 6})
	if err != nil {
		t.Fatal(err)
	}
	e.b.Hold()
	done := make(chan client.Result, 1)
	if _, err := c.Submit(context.Background(), limit(1, wire.Buy, 10, 1), done); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if r := <-done; !errors.Is(r.Err, client.ErrClosed) {
		t.Fatalf("%+v", r)
	}
	if _, err := c.NewOrder(context.Background(), limit(2, wire.Buy, 10, 1)); !errors.Is(err, client.ErrClosed) {
		t.Fatalf("%v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 2000; i++ {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestHeartbeatsKeepIdleConnectionOpen(t *testing.T) {
	e := start(t, gateway.Options{IdleTimeout: 600 * time.Millisecond}, gatewaytest.Options{})
	c := dial(t, e.addr, client.Options{ClientID: 8, HeartbeatInterval: 50 * time.Millisecond})
	time.Sleep(time.Second)
	r, err := c.NewOrder(context.Background(), limit(1, wire.Buy, 10, 1))
	if err != nil || !r.Acked() {
		t.Fatalf("after an idle second: %v %v", r, err)
	}
	if s := e.srv.Stats(); s.Accepted != 1 {
		t.Fatalf("reconnected? %+v", s)
	}
	if got := r.String(); got != "request 1: ack seq 1" {
		t.Fatalf("String: %q", got)
	}
}

// TestReconnectAcrossNodeRestart: the node dies with requests applied but
// not durable; a new node recovers from the durable log on the same
// address; the client reconnects by itself and resends, and each request
// ends up run exactly once, with contiguous sequences.
func TestReconnectAcrossNodeRestart(t *testing.T) {
	e1 := start(t, gateway.Options{}, gatewaytest.Options{})
	c := dial(t, e1.addr, client.Options{ClientID: 9, Reconnect: true, MaxReconnects: 30})
	ctx := context.Background()
	for i := uint64(1); i <= 5; i++ {
		if r, err := c.NewOrder(ctx, limit(i, wire.Buy, 10, 1)); err != nil || !r.Acked() {
			t.Fatalf("%v %v", r, err)
		}
	}
	e1.b.Hold()
	done := make(chan client.Result, 10)
	for i := uint64(6); i <= 10; i++ {
		if _, err := c.Submit(ctx, limit(i, wire.Buy, 10, 1), done); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "ten submissions", func() bool { return len(e1.b.Submitted()) == 10 })
	durable := e1.b.DurableLog()
	e1.srv.Close()
	e1.b.Close() // the held five were never durable: lost with the node
	if len(durable) != 5 {
		t.Fatalf("durable log %d", len(durable))
	}

	// The new node answers "recovering" for a while: the client must wait
	// for it rather than resend into "not ready" rejects.
	e2 := startAt(t, e1.addr, gateway.Options{}, gatewaytest.Options{Replay: durable, Recovering: true})
	waitFor(t, "the client to knock", func() bool { return e2.srv.Stats().Accepted > 0 })
	e2.b.SetState(wire.StateReady)
	for i := 0; i < 5; i++ {
		select {
		case r := <-done:
			if !r.Acked() || r.Seq != r.ReqID {
				t.Fatalf("after restart: %v", r)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("no outcome after the restart")
		}
	}
	if got := e2.b.Submitted(); len(got) != 5 || got[0].ReqID != 6 {
		t.Fatalf("new node ran %d requests", len(got))
	}
	// The request ids go on from where they were.
	if r, err := c.NewOrder(ctx, limit(11, wire.Buy, 10, 1)); err != nil || r.ReqID != 11 || r.Seq != 11 {
		t.Fatalf("%v %v", r, err)
	}
}

// TestReconnectChaos: several clients pipeline requests while a proxy cuts
// every connection at random moments. Every request must get exactly one
// outcome, every outcome must be an Ack with a distinct sequence, and the
// node must have run exactly as many requests as were acknowledged.
func TestReconnectChaos(t *testing.T) {
	const clients, perClient = 4, 400
	e := start(t, gateway.Options{MaxOutstanding: 32}, gatewaytest.Options{Delay: 200 * time.Microsecond})
	p := newProxy(t, e.addr)
	// Dial every client before the cutting starts: the first handshake has
	// nothing to reconnect to; what is under test is what happens after it.
	conns := make([]*client.Client, clients+1)
	for k := 1; k <= clients; k++ {
		conns[k] = dial(t, p.l.Addr().String(), client.Options{ClientID: uint64(k), MaxOutstanding: 32, Reconnect: true, MaxReconnects: 1000})
	}
	stop := make(chan struct{})
	cutterDone := make(chan int)
	go func() {
		cuts := 0
		for i := 1; ; i++ {
			select {
			case <-stop:
				cutterDone <- cuts
				return
			case <-time.After(time.Duration(3+i*7%11) * time.Millisecond):
				p.cut()
				cuts++
			}
		}
	}()
	var wg sync.WaitGroup
	seqs := make(chan uint64, clients*perClient)
	for k := 1; k <= clients; k++ {
		c := conns[k]
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan client.Result, perClient)
			for i := uint64(1); i <= perClient; i++ {
				if _, err := c.Submit(context.Background(), limit(uint64(k)<<32|i, wire.Buy, 10, 1), done); err != nil {
					t.Error(err)
					return
				}
			}
			seen := map[uint64]bool{}
			for len(seen) < perClient {
				select {
				case r := <-done:
					if r.Err != nil || !r.Acked() || seen[r.ReqID] {
						t.Errorf("client %d: %v (seen before: %v)", k, r, seen[r.ReqID])
						return
					}
					seen[r.ReqID] = true
					seqs <- r.Seq
				case <-time.After(30 * time.Second):
					t.Errorf("client %d: %d outcomes of %d", k, len(seen), perClient)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	cuts := <-cutterDone
	close(seqs)
	distinct := map[uint64]bool{}
	for s := range seqs {
		if distinct[s] {
			t.Fatalf("sequence %d acknowledged twice", s)
		}
		distinct[s] = true
	}
	if n := len(e.b.Submitted()); n != clients*perClient || len(distinct) != n {
		t.Fatalf("node ran %d requests, %d distinct acks, want %d", n, len(distinct), clients*perClient)
	}
	t.Logf("%d cuts, %d duplicates answered by the gateway", cuts, e.srv.Stats().Duplicates)
}
