package gateway_test

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

// TestEveryMessageRoundTrip drives every request type through the server
// and checks every response type that comes back, field by field.
func TestEveryMessageRoundTrip(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	maker := h.dial(1)
	taker := h.dial(2)

	maker.send(newOrder(1, 100, wire.Sell, 50, 10))
	if f := maker.next(); f.Type != wire.TypeAck || f.Ack != (wire.Ack{ReqID: 1, Seq: 1}) {
		t.Fatalf("ack: %s %+v", f.Type, f.Ack)
	}
	taker.send(newOrder(1, 200, wire.Buy, 60, 4))
	if f := taker.next(); f.Type != wire.TypeAck || f.Ack != (wire.Ack{ReqID: 1, Seq: 2}) {
		t.Fatalf("taker ack: %s %+v", f.Type, f.Ack)
	}
	want := wire.Trade{Seq: 2, MakerOrderID: 100, TakerOrderID: 200, Price: 50, Qty: 4, Symbol: sym("BTC"), TakerSide: wire.Buy}
	for _, c := range []*rawConn{taker, maker} {
		if f := c.next(); f.Type != wire.TypeTrade || f.Trade != want {
			t.Fatalf("trade: %s %+v, want %+v", f.Type, f.Trade, want)
		}
	}

	maker.send(wire.AppendReplace(nil, &wire.Replace{ReqID: 2, OrderID: 100, Price: 55, Qty: 3, Symbol: sym("BTC")}))
	if f := maker.next(); f.Type != wire.TypeAck || f.Ack.Seq != 3 {
		t.Fatalf("replace ack: %s %+v", f.Type, f.Ack)
	}
	if f := maker.next(); f.Type != wire.TypeReplaced || f.Replaced != (wire.Replaced{Seq: 3, OrderID: 100, Price: 55, Qty: 3, Symbol: sym("BTC")}) {
		t.Fatalf("replaced: %s %+v", f.Type, f.Replaced)
	}
	maker.send(wire.AppendCancel(nil, wire.Cancel{ReqID: 3, OrderID: 100, Symbol: sym("BTC")}))
	if f := maker.next(); f.Type != wire.TypeAck || f.Ack.Seq != 4 {
		t.Fatalf("cancel ack: %s %+v", f.Type, f.Ack)
	}
	if f := maker.next(); f.Type != wire.TypeCancelled || f.Cancelled != (wire.Cancelled{Seq: 4, OrderID: 100, Qty: 3, Symbol: sym("BTC"), Reason: wire.CancelRequested}) {
		t.Fatalf("cancelled: %s %+v", f.Type, f.Cancelled)
	}
	// Engine reject: sequenced, so it carries a sequence.
	maker.send(wire.AppendCancel(nil, wire.Cancel{ReqID: 4, OrderID: 100, Symbol: sym("BTC")}))
	if f := maker.next(); f.Type != wire.TypeReject || f.Reject.ReqID != 4 || f.Reject.Seq != 5 || f.Reject.Reason != wire.ReasonUnknownOrder || string(f.Reject.Text) != "unknown_order" {
		t.Fatalf("engine reject: %s %+v", f.Type, f.Reject)
	}
	// Gateway reject: never sequenced.
	maker.send(newOrder(5, 101, wire.Buy, 50, 0))
	if f := maker.next(); f.Type != wire.TypeReject || f.Reject.ReqID != 5 || f.Reject.Seq != 0 || f.Reject.Reason != wire.ReasonInvalidQty {
		t.Fatalf("gateway reject: %s %+v", f.Type, f.Reject)
	}
	// IOC remainder.
	taker.send(wire.AppendNewOrder(nil, &wire.NewOrder{ReqID: 2, OrderID: 201, Price: 10, Qty: 5, Symbol: sym("BTC"), Side: wire.Buy, Type: wire.Limit, TIF: wire.IOC}))
	if f := taker.next(); f.Type != wire.TypeAck || f.Ack.Seq != 6 {
		t.Fatalf("ioc ack: %s %+v", f.Type, f.Ack)
	}
	if f := taker.next(); f.Type != wire.TypeCancelled || f.Cancelled.Reason != wire.CancelIOCRemainder || f.Cancelled.Qty != 5 {
		t.Fatalf("ioc cancelled: %s %+v", f.Type, f.Cancelled)
	}
	maker.send(wire.AppendToken(nil, wire.TypeHeartbeat, 77))
	if f := maker.next(); f.Type != wire.TypeHeartbeatAck || f.Token.Token != 77 {
		t.Fatalf("heartbeat: %s %+v", f.Type, f.Token)
	}
	maker.send(wire.AppendToken(nil, wire.TypeStatusQuery, 78))
	if f := maker.next(); f.Type != wire.TypeStatus || f.Status.Token != 78 || f.Status.State != wire.StateReady || f.Status.Seq != 6 || f.Status.DurableSeq != 6 {
		t.Fatalf("status: %s %+v", f.Type, f.Status)
	}
	if n := len(h.b.Submitted()); n != 6 {
		t.Fatalf("backend saw %d requests, want 6 (the invalid one must not reach it)", n)
	}
}

// TestProtocolViolations: each violation gets an Error frame with the right
// code, the connection is closed, and nothing of it reaches the backend.
func TestProtocolViolations(t *testing.T) {
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: 9})
	valid := newOrder(1, 1, wire.Buy, 10, 1)
	withHeader := func(n uint32, typ byte, body []byte) []byte {
		b := []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24), typ, 0, 0, 0}
		return append(b, body...)
	}
	badSide := bytes.Clone(valid)
	badSide[wire.HeaderSize+48] = 9
	badMagic := bytes.Clone(hello)
	badMagic[wire.HeaderSize] ^= 1
	cases := []struct {
		name      string
		handshake bool // send a valid Hello first
		in        []byte
		halfClose bool
		code      wire.ErrorCode
	}{
		{"garbage instead of hello", false, []byte("GET / HTTP/1.1\r\n\r\n"), false, wire.ErrCodeFrameTooLarge},
		{"bad magic", false, badMagic, false, wire.ErrCodeMalformed},
		{"order before hello", false, valid, false, wire.ErrCodeHandshake},
		{"client id zero", false, wire.AppendHello(nil, wire.Hello{Version: wire.Version}), false, wire.ErrCodeHandshake},
		{"oversized length", true, withHeader(1<<31, byte(wire.TypeNewOrder), nil), false, wire.ErrCodeFrameTooLarge},
		{"over the server's limit", true, withHeader(wire.MaxClientBodySize+8, byte(wire.TypeReject), make([]byte, 64)), false, wire.ErrCodeFrameTooLarge},
		{"unknown type", true, withHeader(8, 0x42, make([]byte, 8)), false, wire.ErrCodeUnknownType},
		{"wrong length for type", true, withHeader(8, byte(wire.TypeNewOrder), make([]byte, 8)), false, wire.ErrCodeMalformed},
		{"undefined side", true, badSide, false, wire.ErrCodeMalformed},
		{"truncated frame", true, valid[:20], true, wire.ErrCodeTruncated},
		{"second hello", true, hello, false, wire.ErrCodeHandshake},
		{"server type from client", true, wire.AppendAck(nil, wire.Ack{ReqID: 1, Seq: 1}), false, wire.ErrCodeUnexpectedType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
			rc := h.connect()
			if c.handshake {
				rc.send(hello)
				if f := rc.next(); f.Type != wire.TypeServerHello {
					t.Fatalf("handshake: %s", f.Type)
				}
			}
			rc.send(c.in)
			if c.halfClose {
				_ = rc.c.(*net.TCPConn).CloseWrite()
			}
			rc.expectError(c.code)
			if n := len(h.b.Submitted()); n != 0 {
				t.Fatalf("backend received %d requests", n)
			}
			waitFor(t, "the server to count the violation", func() bool { return h.srv.Stats().ProtocolErrors == 1 })
		})
	}
}

func TestWrongVersion(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.connect()
	rc.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version + 1, ClientID: 3}))
	f := rc.next()
	if f.Type != wire.TypeServerHello || f.ServerHello.Status != wire.HelloVersionUnsupported || f.ServerHello.Version != wire.Version {
		t.Fatalf("server hello %s %+v", f.Type, f.ServerHello)
	}
	rc.expectError(wire.ErrCodeVersion)
}

// A violation after valid requests: those were submitted, the bad frame
// and anything after it were not.
func TestViolationStopsReadingAtOnce(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(5)
	var b []byte
	b = append(b, newOrder(1, 1, wire.Buy, 10, 1)...)
	b = append(b, 0xff, 0xff, 0xff, 0x7f, byte(wire.TypeNewOrder), 0, 0, 0)
	b = append(b, newOrder(2, 2, wire.Buy, 10, 1)...)
	rc.send(b)
	rc.expectError(wire.ErrCodeFrameTooLarge)
	if got := h.b.Submitted(); len(got) != 1 || got[0].ReqID != 1 {
		t.Fatalf("submitted %+v, want only request 1", got)
	}
}

func TestDuplicateOnSameConnection(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(1)
	rc.send(newOrder(1, 10, wire.Buy, 10, 1))
	first := rc.next()
	rc.send(newOrder(1, 10, wire.Buy, 10, 1))
	if again := rc.next(); again.Type != wire.TypeAck || again.Ack != first.Ack {
		t.Fatalf("retry got %s %+v, first %+v", again.Type, again.Ack, first.Ack)
	}
	// A retry carrying different content still gets the original outcome:
	// the request id names the request.
	rc.send(newOrder(1, 11, wire.Sell, 99, 5))
	if again := rc.next(); again.Ack != first.Ack {
		t.Fatalf("retry with other content: %+v", again)
	}
	// Engine rejects are outcomes too.
	rc.send(newOrder(2, 10, wire.Buy, 10, 1)) // duplicate live order id
	rej := rc.next()
	if rej.Type != wire.TypeReject || rej.Reject.Seq == 0 {
		t.Fatalf("want an engine reject, got %s %+v", rej.Type, rej.Reject)
	}
	rc.send(newOrder(2, 10, wire.Buy, 10, 1))
	if again := rc.next(); again.Type != wire.TypeReject || again.Reject.Seq != rej.Reject.Seq || again.Reject.Reason != rej.Reject.Reason {
		t.Fatalf("retry of a reject: %s %+v", again.Type, again.Reject)
	}
	// In flight: the duplicate gets no answer of its own; the single
	// outcome arrives once released.
	h.b.Hold()
	rc.send(newOrder(3, 12, wire.Buy, 10, 1))
	rc.send(newOrder(3, 12, wire.Buy, 10, 1))
	waitFor(t, "the duplicate to be seen", func() bool { return h.srv.Stats().Duplicates == 4 })
	h.b.Release()
	if f := rc.next(); f.Type != wire.TypeAck || f.Ack.ReqID != 3 {
		t.Fatalf("%s %+v", f.Type, f.Ack)
	}
	rc.send(wire.AppendToken(nil, wire.TypeHeartbeat, 1))
	if f := rc.next(); f.Type != wire.TypeHeartbeatAck {
		t.Fatalf("a second outcome for request 3 came back: %s %+v", f.Type, f.Ack)
	}
	if n := len(h.b.Submitted()); n != 3 {
		t.Fatalf("backend saw %d requests, want 3", n)
	}
}

func TestDuplicateAfterReconnect(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(1)
	rc.send(newOrder(1, 10, wire.Buy, 10, 1))
	first := rc.next()
	h.b.Hold()
	rc.send(newOrder(2, 11, wire.Buy, 10, 1)) // will be released while disconnected
	rc.send(newOrder(3, 12, wire.Buy, 10, 1)) // will be in flight at the retry
	waitFor(t, "two submissions", func() bool { return len(h.b.Submitted()) == 3 })
	rc.c.Close()
	waitFor(t, "the server to drop the connection", func() bool { return h.srv.Stats().Active == 0 })

	rc2 := h.dial(1)
	rc2.send(newOrder(1, 10, wire.Buy, 10, 1))
	if f := rc2.next(); f.Ack != first.Ack {
		t.Fatalf("retry of 1 after reconnect: %+v, want %+v", f.Ack, first.Ack)
	}
	rc2.send(newOrder(2, 11, wire.Buy, 10, 1))
	rc2.send(newOrder(3, 12, wire.Buy, 10, 1))
	waitFor(t, "both retries to be seen", func() bool { return h.srv.Stats().Duplicates == 3 })
	h.b.Release()
	got := map[uint64]uint64{}
	for len(got) < 2 {
		f := rc2.next()
		if f.Type != wire.TypeAck {
			t.Fatalf("%s", f.Type)
		}
		got[f.Ack.ReqID] = f.Ack.Seq
	}
	if got[2] != 2 || got[3] != 3 {
		t.Fatalf("outcomes %v", got)
	}
	if n := len(h.b.Submitted()); n != 3 {
		t.Fatalf("backend saw %d requests, want 3", n)
	}
	// The hello told the client where it stands.
	rc3 := h.connect()
	rc3.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: 1}))
	if f := rc3.next(); f.ServerHello.LastReqID != 3 {
		t.Fatalf("LastReqID %d, want 3", f.ServerHello.LastReqID)
	}
	rc2.expectError(wire.ErrCodeReplaced)
}

// TestDuplicateAfterRestart: a node restarted from its durable log rebuilds
// the idempotency table, so a retry returns the original outcome without
// running again, and a request that never became durable runs once.
func TestDuplicateAfterRestart(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(1)
	var acks []wire.Ack
	for i := uint64(1); i <= 5; i++ {
		rc.send(newOrder(i, 100+i, wire.Buy, 10, 1))
		acks = append(acks, rc.next().Ack)
	}
	h.b.Hold()
	rc.send(newOrder(6, 106, wire.Buy, 10, 1)) // applied, never durable
	waitFor(t, "request 6 to be submitted", func() bool { return len(h.b.Submitted()) == 6 })
	log := h.b.DurableLog()
	if len(log) != 5 {
		t.Fatalf("durable log has %d records", len(log))
	}

	// Restart: a new node from the durable log, a new server with the
	// table the node rebuilt.
	h2 := newHarness(t, gateway.Options{}, gatewaytest.Options{Replay: log})
	rc2 := h2.dial(1)
	for i := uint64(1); i <= 6; i++ {
		rc2.send(newOrder(i, 100+i, wire.Buy, 10, 1))
		f := rc2.next()
		if f.Type != wire.TypeAck {
			t.Fatalf("request %d: %s %+v", i, f.Type, f.Reject)
		}
		if i <= 5 && f.Ack != acks[i-1] {
			t.Fatalf("request %d: %+v, original %+v", i, f.Ack, acks[i-1])
		}
		if i == 6 && f.Ack.Seq != 6 {
			t.Fatalf("request 6 got seq %d, want 6", f.Ack.Seq)
		}
	}
	if got := h2.b.Submitted(); len(got) != 1 || got[0].ReqID != 6 {
		t.Fatalf("restarted node ran %+v, want only request 6", got)
	}
}

func TestStaleAndTooOld(t *testing.T) {
	h := newHarness(t, gateway.Options{MaxOutstanding: 2, MaxClients: 4, DedupeWindow: 4}, gatewaytest.Options{Clients: 4, Window: 4})
	rc := h.dial(1)
	for _, id := range []uint64{1, 3, 4, 5, 6} {
		rc.send(newOrder(id, id, wire.Buy, 10, 1))
		if f := rc.next(); f.Type != wire.TypeAck {
			t.Fatalf("%d: %s", id, f.Type)
		}
	}
	for _, c := range []struct {
		id   uint64
		want wire.Reason
	}{{2, wire.ReasonReqIDTooOld}, {1, wire.ReasonReqIDTooOld}, {0, wire.ReasonInvalidReqID}} {
		rc.send(newOrder(c.id, 50, wire.Buy, 10, 1))
		if f := rc.next(); f.Type != wire.TypeReject || f.Reject.Reason != c.want || f.Reject.Seq != 0 {
			t.Fatalf("id %d: %s %+v, want %s", c.id, f.Type, f.Reject, c.want)
		}
	}
	rc.send(newOrder(8, 8, wire.Buy, 10, 1))
	rc.next()
	rc.send(newOrder(7, 7, wire.Buy, 10, 1)) // skipped, now below the last
	if f := rc.next(); f.Reject.Reason != wire.ReasonStaleReqID {
		t.Fatalf("skipped id: %+v", f.Reject)
	}
	if n := len(h.b.Submitted()); n != 6 {
		t.Fatalf("backend saw %d", n)
	}
	// The table holds 4 clients; a fifth is refused, politely.
	for cid := uint64(2); cid <= 4; cid++ {
		c := h.dial(cid)
		c.send(newOrder(1, 1000+cid, wire.Buy, 10, 1))
		c.next()
	}
	c5 := h.dial(5)
	c5.send(newOrder(1, 2000, wire.Buy, 10, 1))
	if f := c5.next(); f.Reject.Reason != wire.ReasonClientLimit {
		t.Fatalf("fifth client: %+v", f.Reject)
	}
}

func TestRecoveringThenReady(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{Recovering: true})
	rc := h.connect()
	rc.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: 1}))
	if f := rc.next(); f.ServerHello.Status != wire.HelloRecovering {
		t.Fatalf("hello status %s", f.ServerHello.Status)
	}
	rc.send(wire.AppendToken(nil, wire.TypeStatusQuery, 5))
	if f := rc.next(); f.Type != wire.TypeStatus || f.Status.State != wire.StateRecovering {
		t.Fatalf("status %+v", f.Status)
	}
	rc.send(newOrder(1, 1, wire.Buy, 10, 1))
	if f := rc.next(); f.Type != wire.TypeReject || f.Reject.Reason != wire.ReasonNotReady || f.Reject.Seq != 0 {
		t.Fatalf("during recovery: %s %+v", f.Type, f.Reject)
	}
	h.b.SetState(wire.StateReady)
	rc.send(newOrder(1, 1, wire.Buy, 10, 1)) // same id: it never ran
	if f := rc.next(); f.Type != wire.TypeAck || f.Ack.Seq != 1 {
		t.Fatalf("after recovery: %s %+v", f.Type, f.Ack)
	}
}

func TestOverloadedLeavesIDUnused(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{Queue: 1, CommitQueue: 1})
	h.b.Hold() // the commit stalls, the sequencer stops, the queue fills
	rc := h.dial(1)
	var refused uint64
	for id := uint64(1); id <= 10 && refused == 0; id++ {
		rc.send(newOrder(id, id, wire.Buy, 10, 1))
		waitFor(t, "an answer or a submission", func() bool {
			return uint64(len(h.b.Submitted())) == id || h.srv.Stats().Rejects > 0
		})
		if h.srv.Stats().Rejects > 0 {
			refused = id
		}
	}
	if refused == 0 {
		t.Fatal("no overload after 10 requests into queues of 1")
	}
	if f := rc.next(); f.Type != wire.TypeReject || f.Reject.ReqID != refused || f.Reject.Reason != wire.ReasonOverloaded || f.Reject.Seq != 0 {
		t.Fatalf("%s %+v", f.Type, f.Reject)
	}
	h.b.Release()
	for id := uint64(1); id < refused; id++ {
		if f := rc.next(); f.Type != wire.TypeAck || f.Ack.ReqID != id {
			t.Fatalf("%s %+v", f.Type, f.Ack)
		}
	}
	// The refused id was left unused: the same id now runs.
	rc.send(newOrder(refused, refused, wire.Buy, 10, 1))
	if f := rc.next(); f.Type != wire.TypeAck || f.Ack.ReqID != refused {
		t.Fatalf("retry of the refused id: %s %+v %+v", f.Type, f.Ack, f.Reject)
	}
}

func TestBackpressureAtMaxOutstanding(t *testing.T) {
	const limit, total = 4, 40
	h := newHarness(t, gateway.Options{MaxOutstanding: limit}, gatewaytest.Options{})
	h.b.Hold()
	rc := h.dial(1)
	var b []byte
	for i := uint64(1); i <= total; i++ {
		b = append(b, newOrder(i, i, wire.Buy, 10, 1)...)
	}
	rc.send(b)
	waitFor(t, "the reader to stop at the limit", func() bool { return h.srv.Stats().Backpressured > 0 })
	time.Sleep(50 * time.Millisecond) // room for a broken limit to show
	if n := len(h.b.Submitted()); n != limit {
		t.Fatalf("backend holds %d requests of one connection, limit %d", n, limit)
	}
	// Heartbeats still sit behind the unread requests: the socket is not read.
	h.b.Release()
	for i := uint64(1); i <= total; i++ {
		f := rc.next()
		if f.Type != wire.TypeAck || f.Ack.ReqID != i {
			t.Fatalf("outcome %d: %s %+v", i, f.Type, f.Ack)
		}
	}
}

// TestSlowReaderIsDisconnected: a client that never reads has its queue
// fill up and is disconnected; delivering to it never blocks; another client
// goes on unaffected.
func TestSlowReaderIsDisconnected(t *testing.T) {
	h := newHarness(t, gateway.Options{OutboundQueue: 256, MaxOutstanding: 16, WriteTimeout: time.Minute}, gatewaytest.Options{})
	slow := h.dial(1)
	_ = slow.c.(*net.TCPConn).SetReadBuffer(4096)
	good := h.dial(2)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the good client keeps trading meanwhile
		defer wg.Done()
		for i := uint64(1); i <= 200; i++ {
			good.send(newOrder(i, i, wire.Buy, 10, 1))
			if f := good.next(); f.Type != wire.TypeAck {
				t.Errorf("good client: %s", f.Type)
				return
			}
		}
	}()
	r := gateway.Report{Type: wire.TypeTrade, Seq: 1, OrderID: 1, TakerOrderID: 2, Price: 10, Qty: 1, Symbol: sym("BTC"), TakerSide: wire.Buy}
	delivered := 0
	for h.srv.Deliver(1, r) {
		delivered++
		if delivered > 10_000_000 {
			t.Fatal("the slow client was never disconnected")
		}
	}
	wg.Wait()
	if s := h.srv.Stats(); s.SlowConsumers != 1 {
		t.Fatalf("stats %+v", s)
	}
	waitFor(t, "the slow connection to close", func() bool { return h.srv.Stats().Active == 1 })
	good.send(wire.AppendToken(nil, wire.TypeHeartbeat, 3))
	if f := good.next(); f.Type != wire.TypeHeartbeatAck {
		t.Fatalf("good client after: %s", f.Type)
	}
	t.Logf("delivered %d reports before the disconnect", delivered)
}

func TestSecondHelloReplacesFirst(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	first := h.dial(1)
	second := h.dial(1)
	first.expectError(wire.ErrCodeReplaced)
	second.send(newOrder(1, 1, wire.Buy, 10, 1))
	if f := second.next(); f.Type != wire.TypeAck {
		t.Fatalf("%s", f.Type)
	}
}

func TestConnectionLimit(t *testing.T) {
	h := newHarness(t, gateway.Options{MaxConnections: 2}, gatewaytest.Options{})
	h.dial(1)
	h.dial(2)
	third := h.connect()
	third.expectError(wire.ErrCodeTooManyConns)
	if s := h.srv.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHandshakeTimeout(t *testing.T) {
	h := newHarness(t, gateway.Options{HandshakeTimeout: 50 * time.Millisecond}, gatewaytest.Options{})
	rc := h.connect()
	rc.expectError(wire.ErrCodeTimeout)
}

func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, gateway.Options{IdleTimeout: 500 * time.Millisecond}, gatewaytest.Options{})
	rc := h.dial(1)
	for i := uint64(1); i <= 3; i++ { // heartbeats keep it open
		time.Sleep(50 * time.Millisecond)
		rc.send(wire.AppendToken(nil, wire.TypeHeartbeat, i))
		if f := rc.next(); f.Type != wire.TypeHeartbeatAck {
			t.Fatalf("%s", f.Type)
		}
	}
	rc.expectError(wire.ErrCodeTimeout)
}

func TestCloseSendsShutdown(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(1)
	h.srv.Close()
	rc.expectError(wire.ErrCodeShutdown)
}

// TestManyConcurrentClients: many connections pipelining at once; every
// request is acknowledged exactly once and sequences are contiguous.
func TestManyConcurrentClients(t *testing.T) {
	const clients, perClient = 16, 300
	h := newHarness(t, gateway.Options{MaxOutstanding: 32}, gatewaytest.Options{Delay: 50 * time.Microsecond})
	var wg sync.WaitGroup
	seqs := make(chan uint64, clients*perClient)
	for c := 1; c <= clients; c++ {
		rc := h.dial(uint64(c))
		wg.Add(2)
		go func() {
			defer wg.Done()
			var b []byte
			for i := uint64(1); i <= perClient; i++ {
				b = append(b[:0], newOrder(i, uint64(c)<<32|i, wire.Side(1+i%2), 10+int64(i%3), 1)...)
				if _, err := rc.c.Write(b); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			next := uint64(1)
			for next <= perClient {
				f, err := rc.read()
				if err != nil {
					t.Errorf("client %d: %v", c, err)
					return
				}
				switch f.Type {
				case wire.TypeAck, wire.TypeReject:
					id, seq := f.Ack.ReqID, f.Ack.Seq
					if f.Type == wire.TypeReject {
						id, seq = f.Reject.ReqID, f.Reject.Seq
					}
					if id != next {
						t.Errorf("client %d: outcome for %d, want %d", c, id, next)
						return
					}
					seqs <- seq
					next++
				}
			}
		}()
	}
	wg.Wait()
	close(seqs)
	seen := make([]bool, clients*perClient+1)
	for s := range seqs {
		if s == 0 || s > clients*perClient || seen[s] {
			t.Fatalf("sequence %d out of range or repeated", s)
		}
		seen[s] = true
	}
	if n := len(h.b.Submitted()); n != clients*perClient {
		t.Fatalf("backend saw %d", n)
	}
}

// TestShutdownDeliversWhatIsOwed: requests already with the node get their
// outcomes before the connection closes; requests sent after the shutdown
// began never reach the node; new connections are refused.
func TestShutdownDeliversWhatIsOwed(t *testing.T) {
	for _, idle := range []time.Duration{0, time.Minute} {
		h := newHarness(t, gateway.Options{IdleTimeout: idle}, gatewaytest.Options{})
		h.b.Hold()
		rc := h.dial(1)
		for i := uint64(1); i <= 3; i++ {
			rc.send(newOrder(i, i, wire.Buy, 10, 1))
		}
		waitFor(t, "three submissions", func() bool { return len(h.b.Submitted()) == 3 })
		done := make(chan error, 1)
		go func() { done <- h.srv.Shutdown(context.Background()) }()
		waitFor(t, "the listener to close", func() bool {
			c, err := net.Dial("tcp", h.addr)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		rc.send(newOrder(4, 4, wire.Buy, 10, 1)) // too late
		time.Sleep(20 * time.Millisecond)
		h.b.Release()
		for i := uint64(1); i <= 3; i++ {
			if f := rc.next(); f.Type != wire.TypeAck || f.Ack.ReqID != i {
				t.Fatalf("outcome %d: %s %+v", i, f.Type, f.Ack)
			}
		}
		rc.expectError(wire.ErrCodeShutdown)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if n := len(h.b.Submitted()); n != 3 {
			t.Fatalf("node got %d requests, want 3", n)
		}
	}
}

// TestLoadDedupeAfterRecovery: a node that answers "recovering" while it
// replays hands the rebuilt table to the running server; a retry then gets
// its original outcome.
func TestLoadDedupeAfterRecovery(t *testing.T) {
	h := newHarness(t, gateway.Options{}, gatewaytest.Options{})
	rc := h.dial(1)
	rc.send(newOrder(1, 1, wire.Buy, 10, 1))
	first := rc.next()
	log := h.b.DurableLog()

	h2 := newHarness(t, gateway.Options{Dedupe: mustDedupe(t, 64, 256)}, gatewaytest.Options{Replay: log, Recovering: true})
	rc2 := h2.dial(1)
	rc2.send(newOrder(1, 1, wire.Buy, 10, 1))
	if f := rc2.next(); f.Reject.Reason != wire.ReasonNotReady {
		t.Fatalf("during recovery: %s %+v", f.Type, f.Reject)
	}
	if err := h2.srv.LoadDedupe(mustDedupe(t, 8, 8)); err == nil {
		t.Fatal("a table of another size was loaded")
	}
	if err := h2.srv.LoadDedupe(h2.b.Dedupe()); err != nil {
		t.Fatal(err)
	}
	h2.b.SetState(wire.StateReady)
	rc2.send(newOrder(1, 1, wire.Buy, 10, 1))
	if f := rc2.next(); f.Type != wire.TypeAck || f.Ack != first.Ack {
		t.Fatalf("retry after recovery: %s %+v, original %+v", f.Type, f.Ack, first.Ack)
	}
	if n := len(h2.b.Submitted()); n != 0 {
		t.Fatalf("the recovered node ran %d requests", n)
	}
}

func mustDedupe(t *testing.T, clients, window int) *gateway.Dedupe {
	d, err := gateway.NewDedupe(clients, window)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
