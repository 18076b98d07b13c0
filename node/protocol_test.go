package node

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
)

// rawConn speaks the wire protocol directly, so a test can resend a request
// id the client package would never reuse.
type rawConn struct {
	t   *testing.T
	c   net.Conn
	buf []byte
}

func rawDial(t *testing.T, addr string, cid uint64) (*rawConn, wire.ServerHello) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &rawConn{t: t, c: c}
	rc.send(wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: cid}))
	f := rc.next()
	if f.Type != wire.TypeServerHello {
		t.Fatalf("hello answered with %v", f.Type)
	}
	return rc, f.ServerHello
}

func (rc *rawConn) send(b []byte) {
	if _, err := rc.c.Write(b); err != nil {
		rc.t.Fatal(err)
	}
}

func (rc *rawConn) next() wire.Frame {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var f wire.Frame
		if n, err := wire.DecodeFrame(rc.buf, wire.MaxBodySize, &f); err == nil {
			rc.buf = append(rc.buf[:0], rc.buf[n:]...)
			return f
		} else if !errors.Is(err, wire.ErrTruncated) {
			rc.t.Fatalf("decode: %v", err)
		}
		tmp := make([]byte, 4096)
		n, err := rc.c.Read(tmp)
		if err != nil && err != io.EOF {
			rc.t.Fatalf("read: %v", err)
		}
		if n == 0 && err == io.EOF {
			rc.t.Fatal("connection closed")
		}
		rc.buf = append(rc.buf, tmp[:n]...)
	}
}

// TestRetryAcrossRestart resends request ids after a restart, over the raw
// protocol: the original outcomes (an ack and an engine reject, with their
// sequences) come back, nothing runs twice, and ServerHello reports the
// last request id the node recovered.
func TestRetryAcrossRestart(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	n, addr := openTest(t, "/data", opts)
	rc, _ := rawDial(t, addr, 77)
	ok := wire.NewOrder{ReqID: 1, OrderID: 1, Account: 1, Price: 150, Qty: 3, Symbol: sym("AAA"), Side: wire.Sell, Type: wire.Limit, TIF: wire.GTC}
	bad := ok
	bad.ReqID, bad.OrderID, bad.Price = 2, 2, 151
	bad.Symbol = sym("NOPE")
	rc.send(wire.AppendNewOrder(nil, &ok))
	rc.send(wire.AppendNewOrder(nil, &bad))
	a, r := rc.next(), rc.next()
	if a.Type != wire.TypeAck || a.Ack.ReqID != 1 || r.Type != wire.TypeReject || r.Reject.ReqID != 2 || r.Reject.Seq == 0 {
		t.Fatalf("first outcomes: %+v / %+v", a, r)
	}
	rc.c.Close()
	// A crash image, not a clean shutdown: the node recovers from the log.
	image := fs.Crash(vfs.CrashOptions{})
	n.Abandon()
	opts.FS = image
	n2, addr2 := openTest(t, "/data", opts)
	defer n2.Close()
	seq := n2.Status().Seq
	rc2, hello := rawDial(t, addr2, 77)
	defer rc2.c.Close()
	if hello.Status != wire.HelloReady || hello.LastReqID != 2 {
		t.Fatalf("server hello after restart: %+v", hello)
	}
	rc2.send(wire.AppendNewOrder(nil, &ok))
	rc2.send(wire.AppendNewOrder(nil, &bad))
	a2, r2 := rc2.next(), rc2.next()
	if a2.Type != wire.TypeAck || a2.Ack != a.Ack {
		t.Fatalf("retried ack %+v, original %+v", a2.Ack, a.Ack)
	}
	if r2.Type != wire.TypeReject || r2.Reject.Seq != r.Reject.Seq || r2.Reject.Reason != r.Reject.Reason {
		t.Fatalf("retried reject %+v, original %+v", r2.Reject, r.Reject)
	}
	if got := n2.Status().Seq; got != seq {
		t.Fatalf("a retry ran again: seq %d, was %d", got, seq)
	}
	// A new id runs once.
	next := ok
	next.ReqID, next.OrderID = 3, 3
	rc2.send(wire.AppendNewOrder(nil, &next))
	if f := rc2.next(); f.Type != wire.TypeAck || f.Ack.Seq != seq+1 {
		t.Fatalf("new request after restart: %+v", f)
	}
}

// TestRecoveringStatus holds recovery at its start: a client that connects
// then is told "recovering" and its order is refused as not_ready (not
// sequenced, retryable); once Open returns, the same request id runs.
func TestRecoveringStatus(t *testing.T) {
	opts := testOptions(vfs.NewMemFS())
	hold := make(chan struct{})
	opts.Failpoint = func(p string) {
		if p == FailRecovery {
			<-hold
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.Listener = l
	opened := make(chan *Node, 1)
	go func() {
		n, err := Open("/data", opts)
		if err != nil {
			t.Error(err)
		}
		opened <- n
	}()
	rc, hello := rawDial(t, l.Addr().String(), 5)
	defer rc.c.Close()
	if hello.Status != wire.HelloRecovering {
		t.Fatalf("hello during recovery: %+v", hello)
	}
	o := wire.NewOrder{ReqID: 1, OrderID: 1, Account: 1, Price: 150, Qty: 1, Symbol: sym("AAA"), Side: wire.Buy, Type: wire.Limit, TIF: wire.GTC}
	rc.send(wire.AppendNewOrder(nil, &o))
	if f := rc.next(); f.Type != wire.TypeReject || f.Reject.Reason != wire.ReasonNotReady || f.Reject.Seq != 0 {
		t.Fatalf("order during recovery: %+v", f)
	}
	close(hold)
	n := <-opened
	if n == nil {
		return
	}
	defer n.Close()
	rc.send(wire.AppendNewOrder(nil, &o))
	if f := rc.next(); f.Type != wire.TypeAck || f.Ack.Seq != 3 {
		t.Fatalf("the same request once ready: %+v", f)
	}
}
