// Package client speaks cowbook's client protocol (package gateway/wire) to a
// node's gateway: Dial with handshake, synchronous NewOrder, Cancel and
// Replace that return the outcome, an asynchronous Submit for pipelining many
// requests per connection, execution reports through a callback, and, if
// asked, reconnection that resends every unanswered request with its
// original request id, so that a request runs at most once.
package client

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/cowbook/cowbook/gateway/wire"
)

// Errors returned by the client.
var (
	// ErrClosed is returned for calls after Close, and as the Err of
	// results still pending when Close is called.
	ErrClosed = errors.New("client: closed")
	// ErrConnLost is the Err of results pending when the connection drops
	// and reconnection is off or has given up. Their requests may or may
	// not have run: resend them with the same request id (a new Client
	// with the same client id) to learn the outcome.
	ErrConnLost = errors.New("client: connection lost")
	// ErrHandshake is returned by Dial when the server's answer to Hello
	// is not a ServerHello.
	ErrHandshake = errors.New("client: handshake failed")
)

// ServerError is an Error frame the server sent before closing.
type ServerError struct {
	Code wire.ErrorCode
	Text string
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("client: server closed the connection: %s (%s)", e.Code, e.Text)
}

// Options configures a Client. Zero values mean the documented defaults.
type Options struct {
	// ClientID names this client to the server; request ids are
	// deduplicated per client id. Required, not 0. Use one connection per
	// client id: a second Hello with the same id closes the first.
	ClientID uint64
	// FirstReqID is the first request id to use. Default: one above the
	// highest id the server has accepted from this client id.
	FirstReqID uint64
	// MaxOutstanding bounds the requests awaiting an outcome; Submit
	// waits while it is reached. Keep it at or below the server's limit.
	// Default 256.
	MaxOutstanding int
	// DialTimeout bounds connecting plus the handshake. Default 5 s.
	DialTimeout time.Duration
	// Reconnect makes the client redial after losing the connection and
	// resend every request still awaiting an outcome, with its request id,
	// once the server says it is ready (while it says it is recovering,
	// the client keeps redialling).
	Reconnect bool
	// MaxReconnects bounds consecutive failed redials (waiting 50 ms,
	// doubling up to 2 s, in between) before pending results fail with
	// ErrConnLost. Default 10.
	MaxReconnects int
	// HeartbeatInterval, if set, sends a Heartbeat that often, for servers
	// with an idle timeout.
	HeartbeatInterval time.Duration
	// OnReport, if set, receives every execution report, on the
	// connection's reading goroutine: it must not block for long (a client
	// that stops reading is disconnected by the server).
	OnReport func(Report)
}

func (o *Options) ensureDefaults() error {
	if o.ClientID == 0 {
		return errors.New("client: ClientID must not be 0")
	}
	if o.MaxOutstanding <= 0 {
		o.MaxOutstanding = 256
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 5 * time.Second
	}
	if o.MaxReconnects <= 0 {
		o.MaxReconnects = 10
	}
	return nil
}

// Request is one order command. Kind says which fields matter (as in
// gateway.Request): TypeNewOrder uses all; TypeCancel Symbol and OrderID;
// TypeReplace Symbol, OrderID, Price and Qty.
type Request struct {
	Kind    wire.Type
	Symbol  wire.Symbol
	OrderID uint64
	Account uint64
	Price   int64
	Qty     int64
	Side    wire.Side
	Type    wire.OrderType
	TIF     wire.TIF
}

// Result is the outcome of one request.
type Result struct {
	ReqID uint64
	// Seq is the request's sequence: set for an Ack and for an engine
	// reject, 0 for a gateway reject (the request never reached the log).
	Seq uint64
	// Reason is 0 for an Ack, the reject reason otherwise. A reject with
	// Seq 0 means the request did not run; if Reason.Retryable(), submit
	// it again (it gets a new request id).
	Reason wire.Reason
	// Err is set when no outcome could be obtained (see ErrConnLost).
	Err error
}

// Acked reports whether the request was acknowledged.
func (r Result) Acked() bool { return r.Err == nil && r.Reason == 0 }

// String renders the result on one line, e.g. "request 3: ack seq 17" or
// "request 4: reject seq 0 invalid_qty".
func (r Result) String() string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("request %d: %v", r.ReqID, r.Err)
	case r.Reason == 0:
		return fmt.Sprintf("request %d: ack seq %d", r.ReqID, r.Seq)
	}
	return fmt.Sprintf("request %d: reject seq %d %s", r.ReqID, r.Seq, r.Reason)
}

// Report is one execution report; Type says which field is set.
type Report struct {
	Type      wire.Type // TypeTrade, TypeCancelled or TypeReplaced
	Trade     wire.Trade
	Cancelled wire.Cancelled
	Replaced  wire.Replaced
}

// String renders the report on one line.
func (r Report) String() string {
	switch r.Type {
	case wire.TypeTrade:
		t := &r.Trade
		return fmt.Sprintf("trade seq %d %s maker %d taker %d (%s) %d @ %d", t.Seq, t.Symbol, t.MakerOrderID, t.TakerOrderID, t.TakerSide, t.Qty, t.Price)
	case wire.TypeCancelled:
		c := &r.Cancelled
		return fmt.Sprintf("cancelled seq %d %s order %d qty %d (%s)", c.Seq, c.Symbol, c.OrderID, c.Qty, c.Reason)
	case wire.TypeReplaced:
		p := &r.Replaced
		return fmt.Sprintf("replaced seq %d %s order %d now %d @ %d", p.Seq, p.Symbol, p.OrderID, p.Qty, p.Price)
	}
	return r.Type.String()
}

type pending struct {
	req  Request
	done chan<- Result
	fn   func(Result) // instead of done (SubmitFunc)
}

func (p *pending) deliver(r Result) {
	if p.fn != nil {
		p.fn(r)
		return
	}
	p.done <- r
}

// outFrame is one frame for the connection's writer.
type outFrame struct {
	typ   wire.Type
	reqID uint64 // or token
	req   Request
}

type conn struct {
	nc   net.Conn
	wq   chan outFrame
	dead chan struct{}
	once sync.Once
}

func (cn *conn) kill() {
	cn.once.Do(func() {
		close(cn.dead)
		cn.nc.Close()
	})
}

// Client is one connection to a gateway (or a series of them, with
// Reconnect). It is safe for concurrent use.
type Client struct {
	addr  string
	opts  Options
	slots chan struct{}

	mu      sync.Mutex
	cn      *conn // nil while reconnecting
	hello   wire.ServerHello
	nextReq uint64 // last request id used
	pending map[uint64]pending
	token   uint64
	waiters map[uint64]chan wire.Frame // status and heartbeat replies by token
	closed  bool
	err     error // terminal error; set once
	stopped chan struct{}
	wg      sync.WaitGroup
}

// Dial connects to addr, says Hello and waits for the server's answer. A
// server that is recovering is connected to: ServerHello reports it and
// requests are rejected with wire.ReasonNotReady until it is ready.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	if err := opts.ensureDefaults(); err != nil {
		return nil, err
	}
	c := &Client{
		addr:    addr,
		opts:    opts,
		slots:   make(chan struct{}, opts.MaxOutstanding),
		pending: make(map[uint64]pending),
		waiters: make(map[uint64]chan wire.Frame),
		stopped: make(chan struct{}),
	}
	cn, r, hello, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.hello = hello
	c.nextReq = hello.LastReqID
	if opts.FirstReqID > c.nextReq+1 {
		c.nextReq = opts.FirstReqID - 1
	}
	c.cn = cn
	c.start(cn, r)
	return c, nil
}

// connect dials and runs the handshake.
func (c *Client) connect(ctx context.Context) (*conn, *wire.Reader, wire.ServerHello, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return nil, nil, wire.ServerHello{}, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := nc.Write(wire.AppendHello(nil, wire.Hello{Version: wire.Version, ClientID: c.opts.ClientID})); err != nil {
		nc.Close()
		return nil, nil, wire.ServerHello{}, err
	}
	r := wire.NewReader(bufio.NewReaderSize(nc, 32<<10), wire.MaxBodySize)
	var f wire.Frame
	if err := r.Read(&f); err != nil {
		nc.Close()
		return nil, nil, wire.ServerHello{}, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	switch {
	case f.Type == wire.TypeError:
		nc.Close()
		return nil, nil, wire.ServerHello{}, &ServerError{Code: f.Error.Code, Text: string(f.Error.Text)}
	case f.Type != wire.TypeServerHello:
		nc.Close()
		return nil, nil, wire.ServerHello{}, fmt.Errorf("%w: got %s", ErrHandshake, f.Type)
	case f.ServerHello.Status == wire.HelloVersionUnsupported:
		nc.Close()
		return nil, nil, wire.ServerHello{}, fmt.Errorf("%w: client %d, server %d", wire.ErrVersion, wire.Version, f.ServerHello.Version)
	}
	_ = nc.SetDeadline(time.Time{})
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	cn := &conn{nc: nc, wq: make(chan outFrame, c.opts.MaxOutstanding+64), dead: make(chan struct{})}
	return cn, r, f.ServerHello, nil
}

func (c *Client) start(cn *conn, r *wire.Reader) {
	c.wg.Add(2)
	go c.writeLoop(cn)
	go c.readLoop(cn, r)
	if c.opts.HeartbeatInterval > 0 {
		c.wg.Add(1)
		go c.heartbeat(cn)
	}
}

// heartbeat sends token-0 heartbeats (their answers are ignored) until the
// connection ends.
func (c *Client) heartbeat(cn *conn) {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			select {
			case cn.wq <- outFrame{typ: wire.TypeHeartbeat}:
			default: // the writer is busy, so the connection is not idle
			}
		case <-cn.dead:
			return
		}
	}
}

// ServerHello returns the server's answer to the latest handshake.
func (c *Client) ServerHello() wire.ServerHello {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hello
}

// LastReqID returns the last request id this client used.
func (c *Client) LastReqID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nextReq
}

// Submit sends a request without waiting for its outcome, which is sent on
// done (give it room for every request outstanding on it: the client's
// reader blocks on a full done channel). Submit waits while MaxOutstanding
// requests are outstanding. It returns the request id.
func (c *Client) Submit(ctx context.Context, req Request, done chan<- Result) (uint64, error) {
	return c.submit(ctx, req, pending{req: req, done: done})
}

// SubmitFunc is Submit with the outcome handed to fn, called on the
// client's reader goroutine as soon as the outcome is decoded (or on the
// goroutine that finds the client stopped): no channel and no other
// goroutine between the socket and fn. fn must return quickly and must not
// call the Client's methods that wait.
func (c *Client) SubmitFunc(ctx context.Context, req Request, fn func(Result)) (uint64, error) {
	if fn == nil {
		return 0, errors.New("client: SubmitFunc needs a function")
	}
	return c.submit(ctx, req, pending{req: req, fn: fn})
}

func (c *Client) submit(ctx context.Context, req Request, p pending) (uint64, error) {
	switch req.Kind {
	case wire.TypeNewOrder, wire.TypeCancel, wire.TypeReplace:
	default:
		return 0, fmt.Errorf("client: request kind %s is not new_order, cancel or replace", req.Kind)
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.stopped:
		return 0, c.terminal()
	}
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		<-c.slots
		return 0, err
	}
	c.nextReq++
	id := c.nextReq
	c.pending[id] = p
	if c.cn != nil {
		c.cn.wq <- outFrame{typ: req.Kind, reqID: id, req: req}
	}
	c.mu.Unlock()
	return id, nil
}

func (c *Client) do(ctx context.Context, req Request) (Result, error) {
	done := make(chan Result, 1)
	if _, err := c.Submit(ctx, req, done); err != nil {
		return Result{}, err
	}
	select {
	case r := <-done:
		return r, r.Err
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
}

// NewOrder sends a new order and waits for its outcome.
func (c *Client) NewOrder(ctx context.Context, o Request) (Result, error) {
	o.Kind = wire.TypeNewOrder
	return c.do(ctx, o)
}

// Cancel cancels a resting order and waits for the outcome.
func (c *Client) Cancel(ctx context.Context, sym wire.Symbol, orderID uint64) (Result, error) {
	return c.do(ctx, Request{Kind: wire.TypeCancel, Symbol: sym, OrderID: orderID})
}

// Replace changes a resting order's price and remaining quantity and waits
// for the outcome.
func (c *Client) Replace(ctx context.Context, sym wire.Symbol, orderID uint64, price, qty int64) (Result, error) {
	return c.do(ctx, Request{Kind: wire.TypeReplace, Symbol: sym, OrderID: orderID, Price: price, Qty: qty})
}

// Status asks the node for its figures.
func (c *Client) Status(ctx context.Context) (wire.Status, error) {
	f, err := c.roundTrip(ctx, wire.TypeStatusQuery)
	return f.Status, err
}

// Ping sends a heartbeat and returns the round-trip time.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	_, err := c.roundTrip(ctx, wire.TypeHeartbeat)
	return time.Since(t0), err
}

func (c *Client) roundTrip(ctx context.Context, t wire.Type) (wire.Frame, error) {
	ch := make(chan wire.Frame, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return wire.Frame{}, err
	}
	if c.cn == nil {
		c.mu.Unlock()
		return wire.Frame{}, ErrConnLost
	}
	c.token++
	tok := c.token
	c.waiters[tok] = ch
	select {
	case c.cn.wq <- outFrame{typ: t, reqID: tok}:
	default:
		delete(c.waiters, tok)
		c.mu.Unlock()
		return wire.Frame{}, errors.New("client: send queue full")
	}
	c.mu.Unlock()
	select {
	case f, ok := <-ch:
		if !ok {
			return wire.Frame{}, ErrConnLost
		}
		return f, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.waiters, tok)
		c.mu.Unlock()
		return wire.Frame{}, ctx.Err()
	case <-c.stopped:
		return wire.Frame{}, c.terminal()
	}
}

func (c *Client) terminal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	return ErrClosed
}

// Close closes the connection; results still pending get ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	cn := c.cn
	c.mu.Unlock()
	c.stop(ErrClosed)
	if cn != nil {
		cn.kill()
	}
	c.wg.Wait()
	return nil
}

// stop fails every pending request with err and makes the client unusable.
func (c *Client) stop(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	close(c.stopped)
	ps := c.pending
	c.pending = make(map[uint64]pending)
	c.mu.Unlock()
	for id, p := range ps {
		p.deliver(Result{ReqID: id, Err: err})
		<-c.slots
	}
}

func (c *Client) writeLoop(cn *conn) {
	defer c.wg.Done()
	buf := make([]byte, 0, 64<<10)
	for {
		select {
		case m := <-cn.wq:
			buf = appendRequest(buf, m)
		more:
			for len(buf) < 32<<10 {
				select {
				case m := <-cn.wq:
					buf = appendRequest(buf, m)
				default:
					break more
				}
			}
			if _, err := cn.nc.Write(buf); err != nil {
				cn.kill()
				return
			}
			buf = buf[:0]
		case <-cn.dead:
			return
		}
	}
}

func appendRequest(buf []byte, m outFrame) []byte {
	r := &m.req
	switch m.typ {
	case wire.TypeNewOrder:
		return wire.AppendNewOrder(buf, &wire.NewOrder{ReqID: m.reqID, OrderID: r.OrderID, Account: r.Account,
			Price: r.Price, Qty: r.Qty, Symbol: r.Symbol, Side: r.Side, Type: r.Type, TIF: r.TIF})
	case wire.TypeCancel:
		return wire.AppendCancel(buf, wire.Cancel{ReqID: m.reqID, OrderID: r.OrderID, Symbol: r.Symbol})
	case wire.TypeReplace:
		return wire.AppendReplace(buf, &wire.Replace{ReqID: m.reqID, OrderID: r.OrderID, Price: r.Price, Qty: r.Qty, Symbol: r.Symbol})
	case wire.TypeStatusQuery, wire.TypeHeartbeat:
		return wire.AppendToken(buf, m.typ, m.reqID)
	}
	return buf
}

func (c *Client) readLoop(cn *conn, r *wire.Reader) {
	defer c.wg.Done()
	var f wire.Frame
	var err error
	for {
		if err = r.Read(&f); err != nil {
			break
		}
		switch f.Type {
		case wire.TypeAck:
			c.finish(Result{ReqID: f.Ack.ReqID, Seq: f.Ack.Seq})
		case wire.TypeReject:
			c.finish(Result{ReqID: f.Reject.ReqID, Seq: f.Reject.Seq, Reason: f.Reject.Reason})
		case wire.TypeTrade:
			c.report(Report{Type: f.Type, Trade: f.Trade})
		case wire.TypeCancelled:
			c.report(Report{Type: f.Type, Cancelled: f.Cancelled})
		case wire.TypeReplaced:
			c.report(Report{Type: f.Type, Replaced: f.Replaced})
		case wire.TypeStatus, wire.TypeHeartbeatAck:
			tok := f.Token.Token
			if f.Type == wire.TypeStatus {
				tok = f.Status.Token
			}
			c.mu.Lock()
			ch := c.waiters[tok]
			delete(c.waiters, tok)
			c.mu.Unlock()
			if ch != nil {
				ch <- f
			}
		case wire.TypeError:
			err = &ServerError{Code: f.Error.Code, Text: string(f.Error.Text)}
		default:
			err = fmt.Errorf("%w: unexpected %s from server", wire.ErrMalformed, f.Type)
		}
		if err != nil {
			break
		}
	}
	cn.kill()
	c.lost(cn, err)
}

func (c *Client) report(r Report) {
	if c.opts.OnReport != nil {
		c.opts.OnReport(r)
	}
}

// finish delivers an outcome; a second outcome for the same request (a
// resend after a reconnect can produce one) is dropped.
func (c *Client) finish(r Result) {
	c.mu.Lock()
	p, ok := c.pending[r.ReqID]
	delete(c.pending, r.ReqID)
	c.mu.Unlock()
	if !ok {
		return
	}
	p.deliver(r)
	<-c.slots
}

// lost handles the end of connection cn.
func (c *Client) lost(cn *conn, err error) {
	c.mu.Lock()
	if c.cn != cn || c.closed {
		c.mu.Unlock()
		return
	}
	c.cn = nil
	for tok, ch := range c.waiters {
		close(ch)
		delete(c.waiters, tok)
	}
	c.mu.Unlock()
	if !c.opts.Reconnect || fatal(err) {
		var se *ServerError
		if errors.As(err, &se) {
			err = fmt.Errorf("%w: %w", ErrConnLost, err)
		} else {
			err = ErrConnLost
		}
		c.stop(err)
		return
	}
	c.wg.Add(1)
	go c.reconnect()
}

func (c *Client) reconnect() {
	defer c.wg.Done()
	wait := 50 * time.Millisecond
	for failures := 0; failures < c.opts.MaxReconnects; {
		select {
		case <-time.After(wait):
		case <-c.stopped:
			return
		}
		wait = min(2*wait, 2*time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-c.stopped:
				cancel()
			case <-ctx.Done():
			}
		}()
		cn, r, hello, err := c.connect(ctx)
		cancel()
		if err != nil {
			if fatal(err) {
				c.stop(fmt.Errorf("%w: %w", ErrConnLost, err))
				return
			}
			failures++
			continue
		}
		if hello.Status != wire.HelloReady {
			// A node that is recovering would refuse the resent requests
			// as not ready, and they would be lost to their callers: come
			// back once it is ready. This does not count as a failure.
			cn.kill()
			continue
		}
		c.mu.Lock()
		if c.closed || c.err != nil {
			c.mu.Unlock()
			cn.kill()
			return
		}
		c.hello = hello
		// Resend what is unanswered, in request id order, before anything
		// new: the server requires increasing ids per client.
		ids := make([]uint64, 0, len(c.pending))
		for id := range c.pending {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		for _, id := range ids {
			p := c.pending[id]
			cn.wq <- outFrame{typ: p.req.Kind, reqID: id, req: p.req}
		}
		if hello.LastReqID > c.nextReq {
			c.nextReq = hello.LastReqID
		}
		c.cn = cn
		c.start(cn, r)
		c.mu.Unlock()
		return
	}
	c.stop(ErrConnLost)
}

// fatal reports whether err means that reconnecting cannot help: another
// connection took over the client id, or the versions do not match.
func fatal(err error) bool {
	var se *ServerError
	if errors.As(err, &se) {
		return se.Code == wire.ErrCodeReplaced || se.Code == wire.ErrCodeVersion || se.Code == wire.ErrCodeHandshake
	}
	return errors.Is(err, wire.ErrVersion)
}
