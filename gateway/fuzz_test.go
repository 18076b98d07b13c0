package gateway_test

import (
	"io"
	"net"
	"testing"

	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

// expectedSubmissions is the reference for FuzzServe, written from the
// protocol document rather than from the server: the request ids a
// connection fed `in` must hand to the node, in order. Decoding stops at
// the first frame that is invalid, incomplete, not a client request, or a
// second Hello; a request runs if its id is above the last one run and its
// fields pass the gateway's checks.
func expectedSubmissions(in []byte) (clientID uint64, ids []uint64) {
	var f wire.Frame
	n, err := wire.DecodeFrame(in, wire.MaxClientBodySize, &f)
	if err != nil || f.Type != wire.TypeHello || f.Hello.Version != wire.Version || f.Hello.ClientID == 0 {
		return 0, nil
	}
	clientID = f.Hello.ClientID
	in = in[n:]
	var last uint64
	for {
		n, err := wire.DecodeFrame(in, wire.MaxClientBodySize, &f)
		if err != nil {
			return clientID, ids
		}
		in = in[n:]
		var id uint64
		ok := false
		switch f.Type {
		case wire.TypeNewOrder:
			m := f.NewOrder
			id = m.ReqID
			ok = m.OrderID != 0 && m.Qty > 0 &&
				(m.Type == wire.Limit && m.Price > 0 || m.Type == wire.Market && m.Price == 0 && m.TIF != wire.POST)
		case wire.TypeCancel:
			id, ok = f.Cancel.ReqID, f.Cancel.OrderID != 0
		case wire.TypeReplace:
			m := f.Replace
			id, ok = m.ReqID, m.OrderID != 0 && m.Qty > 0 && m.Price > 0
		case wire.TypeHeartbeat, wire.TypeStatusQuery:
			continue
		default:
			return clientID, ids
		}
		if ok && id > last {
			ids = append(ids, id)
			last = id
		}
	}
}

// FuzzServe feeds arbitrary bytes to a server connection and checks that
// the node receives exactly the requests the reference says, in order:
// nothing from an invalid frame or after it, no request id twice.
func FuzzServe(f *testing.F) {
	hello := wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: 1})
	f.Add([]byte{})
	seed := append([]byte(nil), hello...)
	seed = append(seed, newOrder(1, 1, wire.Buy, 10, 1)...)
	seed = append(seed, newOrder(1, 1, wire.Buy, 10, 1)...)
	seed = append(seed, wire.AppendCancel(nil, wire.Cancel{ReqID: 3, OrderID: 1, Symbol: sym("BTC")})...)
	seed = append(seed, wire.AppendReplace(nil, &wire.Replace{ReqID: 4, OrderID: 1, Price: 11, Qty: 2, Symbol: sym("BTC")})...)
	seed = append(seed, wire.AppendToken(nil, wire.TypeHeartbeat, 9)...)
	seed = append(seed, newOrder(2, 2, wire.Sell, 0, 1)...)
	seed = append(seed, newOrder(5, 2, wire.Sell, 10, 1)...)
	f.Add(seed)
	f.Add(append(append([]byte(nil), seed...), hello...))
	f.Add(hello)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := gatewaytest.New(gatewaytest.Options{Clients: 2, Window: 256})
		if err != nil {
			t.Fatal(err)
		}
		srv, err := gateway.NewServer(b, gateway.Options{Dedupe: b.Dedupe(), MaxOutstanding: 256})
		if err != nil {
			t.Fatal(err)
		}
		b.Attach(srv)
		client, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		srv.ServeConn(server)
		// The server closes its side only once its reader has stopped:
		// at the end of the input, or at the first violation.
		drained := make(chan struct{})
		go func() { _, _ = io.Copy(io.Discard, client); close(drained) }()
		_, _ = client.Write(in) // fails if the server already closed: fine
		_ = client.(*net.TCPConn).CloseWrite()
		<-drained
		client.Close()
		srv.Close()
		b.Close()
		cid, want := expectedSubmissions(in)
		got := b.Submitted()
		if len(got) != len(want) {
			t.Fatalf("node got %d requests, want %d (%v)", len(got), len(want), want)
		}
		for i := range got {
			if got[i].ReqID != want[i] || got[i].ClientID != cid {
				t.Fatalf("request %d: client %d id %d, want id %d", i, got[i].ClientID, got[i].ReqID, want[i])
			}
		}
		if v := b.Violations(); len(v) > 0 {
			t.Fatal(v)
		}
	})
}

// FuzzOpenDedupe feeds arbitrary bytes (a damaged snapshot) to OpenDedupe:
// it must refuse them or return a table that works: no panic, no endless
// probe, and every operation keeps it valid.
func FuzzOpenDedupe(f *testing.F) {
	d, _ := gateway.NewDedupe(2, 3)
	f.Add(append([]byte(nil), d.Bytes()...))
	for i := uint64(1); i <= 7; i++ {
		_ = d.Record(1+i%2, i, gateway.Outcome{Seq: i, Reason: wire.Reason(i % 2 * 100)})
	}
	_ = d.Accept(1, 9)
	f.Add(append([]byte(nil), d.Bytes()...))
	f.Fuzz(func(t *testing.T, mem []byte) {
		d, err := gateway.OpenDedupe(mem)
		if err != nil {
			return
		}
		if len(mem) > 1<<20 {
			return
		}
		for cid := uint64(0); cid < 4; cid++ {
			last := d.Last(cid)
			for id := uint64(0); id <= last+2 && id < 64; id++ {
				v, _ := d.Lookup(cid, id)
				switch v {
				case gateway.VerdictNew:
					_ = d.Record(cid, id, gateway.Outcome{Seq: id})
				case gateway.VerdictInFlight:
					d.Complete(cid, id, gateway.Outcome{Seq: id})
				}
			}
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("a table OpenDedupe accepted became invalid: %v", err)
		}
	})
}
