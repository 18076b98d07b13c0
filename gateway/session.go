package gateway

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/gateway/wire"
)

// Session is one client connection. The node receives it with each Submit
// and calls Complete on it; everything else is internal.
type Session struct {
	srv      *Server
	conn     net.Conn
	clientID atomic.Uint64 // set once by the Hello

	out   chan outMsg   // bounded outbound queue, drained by writeLoop
	slots chan struct{} // one token per request the backend holds

	once    sync.Once
	closing chan struct{}  // closed by fail
	code    wire.ErrorCode // why; written before closing is closed
}

// outMsg is one queued server message, fixed-size so that queueing it
// allocates nothing. Fields are reused per type as encode shows.
type outMsg struct {
	typ     wire.Type
	side    wire.Side
	cancel  wire.CancelReason
	hello   wire.HelloStatus
	reason  wire.Reason
	reqID   uint64 // request id, token, or client id (ServerHello)
	seq     uint64
	orderID uint64
	order2  uint64 // taker order id, or last request id (ServerHello)
	price   int64
	qty     int64
	symbol  wire.Symbol
}

func newSession(srv *Server, c net.Conn) *Session {
	return &Session{
		srv:     srv,
		conn:    c,
		out:     make(chan outMsg, srv.opts.OutboundQueue),
		slots:   make(chan struct{}, srv.opts.MaxOutstanding),
		closing: make(chan struct{}),
	}
}

// ClientID returns the client id the connection said Hello with.
func (s *Session) ClientID() uint64 { return s.clientID.Load() }

// Complete reports the outcome of a request this session submitted. The
// node calls it exactly once per accepted Submit, once the command is
// durable, in sequence order. It records the outcome in the idempotency
// table and queues it for the client's current connection (which is not
// this one if the client reconnected). It never blocks.
func (s *Session) Complete(reqID uint64, o Outcome) {
	srv := s.srv
	cid := s.clientID.Load()
	srv.mu.Lock()
	srv.dedupe.Complete(cid, reqID, o)
	cur := srv.sessions[cid]
	srv.mu.Unlock()
	select {
	case <-s.slots:
	default: // a second Complete for one request: nothing to release
	}
	if cur != nil {
		cur.enqueue(outcomeMsg(reqID, o))
	}
}

func outcomeMsg(reqID uint64, o Outcome) outMsg {
	if o.Reason == 0 {
		return outMsg{typ: wire.TypeAck, reqID: reqID, seq: o.Seq}
	}
	return outMsg{typ: wire.TypeReject, reqID: reqID, seq: o.Seq, reason: o.Reason}
}

// enqueue queues m without blocking; a full queue disconnects the client.
func (s *Session) enqueue(m outMsg) bool {
	select {
	case <-s.closing:
		return false
	default:
	}
	select {
	case s.out <- m:
		return true
	default:
		if s.fail(wire.ErrCodeSlowConsumer) {
			s.srv.stats.slowConsumers.Add(1)
		}
		return false
	}
}

// fail starts closing the connection, once; code 0 closes quietly. It
// reports whether this call was the first.
func (s *Session) fail(code wire.ErrorCode) bool {
	first := false
	s.once.Do(func() {
		first = true
		s.code = code
		close(s.closing)
		if code == wire.ErrCodeSlowConsumer {
			// The client is not reading: an Error frame would not get
			// through, and the writer may be blocked in Write.
			s.conn.Close()
		}
	})
	return first
}

func (s *Session) readLoop() {
	defer s.srv.wg.Done()
	code := s.serve()
	if s.srv.draining.Load() && (code == 0 || code == wire.ErrCodeTimeout) {
		// Shutdown: read nothing more, but stay open until every request
		// this connection handed to the node has its outcome queued.
		for len(s.slots) > 0 {
			select {
			case <-s.closing:
			case <-time.After(time.Millisecond):
				continue
			}
			break
		}
		code = wire.ErrCodeShutdown
	}
	if s.fail(code) && code != 0 && code != wire.ErrCodeTimeout && code != wire.ErrCodeShutdown {
		s.srv.stats.protocolErrors.Add(1)
		if s.srv.opts.Logf != nil {
			s.srv.opts.Logf("gateway: %s client %d: %s", s.conn.RemoteAddr(), s.clientID.Load(), code)
		}
	}
	s.srv.forget(s)
}

// serve runs the connection's reading side and returns why it stopped:
// an error code for the client, or 0 to close quietly.
func (s *Session) serve() wire.ErrorCode {
	opts := &s.srv.opts
	r := wire.NewReader(bufio.NewReaderSize(s.conn, 16<<10), opts.MaxFrameBody)
	var f wire.Frame
	_ = s.conn.SetReadDeadline(time.Now().Add(opts.HandshakeTimeout))
	if err := r.Read(&f); err != nil {
		return readErrorCode(err)
	}
	if f.Type != wire.TypeHello {
		return wire.ErrCodeHandshake
	}
	if code := s.handshake(f.Hello); code != 0 {
		return code
	}
	_ = s.conn.SetReadDeadline(time.Time{})
	for {
		if !s.acquire() {
			return 0
		}
		if opts.IdleTimeout > 0 {
			_ = s.conn.SetReadDeadline(time.Now().Add(opts.IdleTimeout))
			if s.srv.draining.Load() {
				// Shutdown's wake-up deadline may predate ours.
				s.release()
				return 0
			}
		}
		if err := r.Read(&f); err != nil {
			s.release()
			return readErrorCode(err)
		}
		if s.srv.draining.Load() {
			// Read as Shutdown began: not handed over, not answered; the
			// client resends it with the same id after the restart.
			s.release()
			return 0
		}
		switch f.Type {
		case wire.TypeNewOrder:
			m := &f.NewOrder
			s.request(Request{Kind: f.Type, ReqID: m.ReqID, Symbol: m.Symbol, OrderID: m.OrderID, Account: m.Account,
				Price: m.Price, Qty: m.Qty, Side: m.Side, Type: m.Type, TIF: m.TIF})
		case wire.TypeCancel:
			m := &f.Cancel
			s.request(Request{Kind: f.Type, ReqID: m.ReqID, Symbol: m.Symbol, OrderID: m.OrderID})
		case wire.TypeReplace:
			m := &f.Replace
			s.request(Request{Kind: f.Type, ReqID: m.ReqID, Symbol: m.Symbol, OrderID: m.OrderID, Price: m.Price, Qty: m.Qty})
		case wire.TypeHeartbeat:
			s.release()
			s.enqueue(outMsg{typ: wire.TypeHeartbeatAck, reqID: f.Token.Token})
		case wire.TypeStatusQuery:
			s.release()
			s.enqueue(outMsg{typ: wire.TypeStatusQuery, reqID: f.Token.Token})
		case wire.TypeHello:
			s.release()
			return wire.ErrCodeHandshake
		default:
			s.release()
			return wire.ErrCodeUnexpectedType
		}
	}
}

func readErrorCode(err error) wire.ErrorCode {
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrFrameTooLarge):
		return wire.ErrCodeFrameTooLarge
	case errors.Is(err, wire.ErrUnknownType):
		return wire.ErrCodeUnknownType
	case errors.Is(err, wire.ErrMalformed):
		return wire.ErrCodeMalformed
	case errors.Is(err, wire.ErrTruncated):
		return wire.ErrCodeTruncated
	case errors.As(err, &ne) && ne.Timeout():
		return wire.ErrCodeTimeout
	}
	return 0 // end of stream, reset, or closed by us
}

// acquire takes one outstanding-request slot, waiting (and so not reading
// the socket) while the backend holds MaxOutstanding of this connection's
// requests. It reports false if the connection is closing.
func (s *Session) acquire() bool {
	if s.srv.draining.Load() {
		return false
	}
	select {
	case <-s.closing: // replaced, shut down or too slow: hand over nothing more
		return false
	default:
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	s.srv.stats.backpressured.Add(1)
	select {
	case s.slots <- struct{}{}:
		return true
	case <-s.closing:
		return false
	}
}

func (s *Session) release() {
	select {
	case <-s.slots:
	default:
	}
}

func (s *Session) handshake(h wire.Hello) wire.ErrorCode {
	srv := s.srv
	if h.Version != wire.Version {
		s.enqueue(outMsg{typ: wire.TypeServerHello, hello: wire.HelloVersionUnsupported, reqID: h.ClientID})
		return wire.ErrCodeVersion
	}
	if h.ClientID == 0 {
		return wire.ErrCodeHandshake
	}
	status := wire.HelloReady
	st := srv.backend.Status()
	if st.State != wire.StateReady {
		status = wire.HelloRecovering
	}
	srv.mu.Lock()
	old := srv.sessions[h.ClientID]
	srv.sessions[h.ClientID] = s
	s.clientID.Store(h.ClientID)
	last := srv.dedupe.Last(h.ClientID)
	srv.mu.Unlock()
	if old != nil && old.fail(wire.ErrCodeReplaced) {
		srv.stats.replaced.Add(1)
	}
	s.enqueue(outMsg{typ: wire.TypeServerHello, hello: status, reqID: h.ClientID, order2: last, seq: st.DurableSeq})
	return 0
}

// request dedupes, validates and submits one request. The slot acquired for
// it is kept only if the backend took the request.
func (s *Session) request(req Request) {
	srv := s.srv
	cid := s.clientID.Load()
	req.ClientID = cid
	if req.ReqID == 0 {
		s.release()
		srv.stats.rejects.Add(1)
		s.enqueue(outMsg{typ: wire.TypeReject, reason: wire.ReasonInvalidReqID})
		return
	}
	var reason wire.Reason
	srv.mu.Lock()
	v, o := srv.dedupe.Lookup(cid, req.ReqID)
	switch v {
	case VerdictNew:
		if reason = req.validate(); reason != 0 {
			break
		}
		if err := srv.backend.Submit(s, req); err != nil {
			reason = submitReason(err)
			break
		}
		// Lookup said new under the same lock: Accept cannot refuse.
		_ = srv.dedupe.Accept(cid, req.ReqID)
		srv.mu.Unlock()
		srv.stats.submitted.Add(1)
		return
	case VerdictStale:
		reason = wire.ReasonStaleReqID
	case VerdictTooOld:
		reason = wire.ReasonReqIDTooOld
	case VerdictClientLimit:
		reason = wire.ReasonClientLimit
	}
	srv.mu.Unlock()
	s.release()
	switch v {
	case VerdictDone:
		srv.stats.duplicates.Add(1)
		s.enqueue(outcomeMsg(req.ReqID, o))
	case VerdictInFlight:
		// The outcome will reach the client's current connection.
		srv.stats.duplicates.Add(1)
	default:
		srv.stats.rejects.Add(1)
		s.enqueue(outMsg{typ: wire.TypeReject, reqID: req.ReqID, reason: reason})
	}
}

func submitReason(err error) wire.Reason {
	switch {
	case errors.Is(err, ErrNotReady):
		return wire.ReasonNotReady
	case errors.Is(err, ErrOverloaded):
		return wire.ReasonOverloaded
	}
	return wire.ReasonUnavailable
}

// writeLoop drains the outbound queue into the socket, one write per batch
// of whatever is queued, until the session closes.
func (s *Session) writeLoop() {
	defer s.srv.wg.Done()
	defer s.conn.Close()
	const flushAt = 32 << 10
	buf := make([]byte, 0, flushAt+wire.MaxFrameSize)
	var text []byte
	for {
		select {
		case m := <-s.out:
			buf, text = s.encode(buf, text, m)
		more:
			for len(buf) < flushAt {
				select {
				case m := <-s.out:
					buf, text = s.encode(buf, text, m)
				default:
					break more
				}
			}
			_ = s.conn.SetWriteDeadline(time.Now().Add(s.srv.opts.WriteTimeout))
			if _, err := s.conn.Write(buf); err != nil {
				s.fail(0)
				return
			}
			buf = buf[:0]
		case <-s.closing:
			if s.code == wire.ErrCodeSlowConsumer {
				return
			}
			// Whatever was queued before the close goes out first, then
			// the reason, within a short deadline.
			for n := len(s.out); n > 0; n-- { // at most OutboundQueue messages
				buf, text = s.encode(buf, text, <-s.out)
			}
			if s.code != 0 {
				text = append(text[:0], s.code.String()...)
				buf = wire.AppendError(buf, &wire.Error{Code: s.code, Text: text})
			}
			if len(buf) > 0 {
				_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
				_, _ = s.conn.Write(buf)
			}
			if tc, ok := s.conn.(*net.TCPConn); ok {
				// Half-close so that the client reads the Error frame
				// before the end of stream rather than a reset.
				_ = tc.CloseWrite()
			}
			return
		}
	}
}

func (s *Session) encode(buf, text []byte, m outMsg) ([]byte, []byte) {
	switch m.typ {
	case wire.TypeServerHello:
		return wire.AppendServerHello(buf, wire.ServerHello{Version: wire.Version, Status: m.hello,
			ClientID: m.reqID, LastReqID: m.order2, DurableSeq: m.seq}), text
	case wire.TypeAck:
		return wire.AppendAck(buf, wire.Ack{ReqID: m.reqID, Seq: m.seq}), text
	case wire.TypeReject:
		text = append(text[:0], m.reason.String()...)
		return wire.AppendReject(buf, &wire.Reject{ReqID: m.reqID, Seq: m.seq, Reason: m.reason, Text: text}), text
	case wire.TypeTrade:
		return wire.AppendTrade(buf, &wire.Trade{Seq: m.seq, MakerOrderID: m.orderID, TakerOrderID: m.order2,
			Price: m.price, Qty: m.qty, Symbol: m.symbol, TakerSide: m.side}), text
	case wire.TypeCancelled:
		return wire.AppendCancelled(buf, &wire.Cancelled{Seq: m.seq, OrderID: m.orderID, Qty: m.qty,
			Symbol: m.symbol, Reason: m.cancel}), text
	case wire.TypeReplaced:
		return wire.AppendReplaced(buf, &wire.Replaced{Seq: m.seq, OrderID: m.orderID, Price: m.price,
			Qty: m.qty, Symbol: m.symbol}), text
	case wire.TypeHeartbeatAck:
		return wire.AppendToken(buf, wire.TypeHeartbeatAck, m.reqID), text
	case wire.TypeStatusQuery:
		st := s.srv.backend.Status()
		st.Token = m.reqID
		return wire.AppendStatus(buf, &st), text
	}
	return buf, text
}
