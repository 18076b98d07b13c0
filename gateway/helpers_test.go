package gateway_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/gatewaytest"
	"github.com/cowbook/cowbook/gateway/wire"
)

type harness struct {
	t    *testing.T
	b    *gatewaytest.Backend
	srv  *gateway.Server
	addr string
}

func newHarness(t *testing.T, gopts gateway.Options, bopts gatewaytest.Options) *harness {
	t.Helper()
	if bopts.Clients == 0 {
		bopts.Clients, bopts.Window = 64, 256 // small tables keep tests quick under -race
	}
	b, err := gatewaytest.New(bopts)
	if err != nil {
		t.Fatal(err)
	}
	if gopts.Dedupe == nil && gopts.MaxClients == 0 {
		gopts.Dedupe = b.Dedupe()
	}
	srv, err := gateway.NewServer(b, gopts)
	if err != nil {
		t.Fatal(err)
	}
	b.Attach(srv)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	h := &harness{t: t, b: b, srv: srv, addr: l.Addr().String()}
	t.Cleanup(func() {
		b.Release()
		srv.Close()
		if err := <-served; !errors.Is(err, gateway.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		b.Close()
		if v := b.Violations(); len(v) > 0 {
			t.Errorf("%d requests reached the node twice, first: %v", len(v), v[0])
		}
	})
	return h
}

// rawConn speaks frames directly, so tests can send anything.
type rawConn struct {
	t *testing.T
	c net.Conn
	r *wire.Reader
}

func (h *harness) connect() *rawConn {
	h.t.Helper()
	c, err := net.Dial("tcp", h.addr)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return &rawConn{t: h.t, c: c, r: wire.NewReader(bufio.NewReader(c), 0)}
}

// dial connects and completes the handshake as client cid.
func (h *harness) dial(cid uint64) *rawConn {
	h.t.Helper()
	rc := h.connect()
	rc.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: cid}))
	f := rc.next()
	if f.Type != wire.TypeServerHello || f.ServerHello.ClientID != cid || f.ServerHello.Version != wire.Version {
		h.t.Fatalf("handshake: %+v", f)
	}
	return rc
}

func (rc *rawConn) send(b []byte) {
	rc.t.Helper()
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

func (rc *rawConn) next() wire.Frame {
	rc.t.Helper()
	f, err := rc.read()
	if err != nil {
		rc.t.Fatalf("read: %v", err)
	}
	return f
}

func (rc *rawConn) read() (wire.Frame, error) {
	var f wire.Frame
	_ = rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	err := rc.r.Read(&f)
	return f, err
}

// expectError reads until the connection ends and checks that its last
// frame was an Error with code.
func (rc *rawConn) expectError(code wire.ErrorCode) {
	rc.t.Helper()
	var last wire.Frame
	for {
		f, err := rc.read()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				var oe *net.OpError
				if !errors.As(err, &oe) {
					rc.t.Fatalf("expected end of stream, got %v", err)
				}
			}
			break
		}
		last = f
	}
	if last.Type != wire.TypeError || last.Error.Code != code {
		rc.t.Fatalf("last frame %s %+v, want Error %s", last.Type, last.Error, code)
	}
}

func sym(s string) wire.Symbol {
	v, ok := wire.MakeSymbol(s)
	if !ok {
		panic("bad symbol " + s)
	}
	return v
}

func newOrder(req, id uint64, side wire.Side, price, qty int64) []byte {
	return wire.AppendNewOrder(nil, &wire.NewOrder{ReqID: req, OrderID: id, Account: 7, Price: price, Qty: qty,
		Symbol: sym("BTC"), Side: side, Type: wire.Limit, TIF: wire.GTC})
}

// waitFor polls cond for up to 10 s: for states another goroutine reaches.
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
