package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/gateway/wire"
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("gateway: server closed")

// Server accepts client connections and runs one Session per connection.
type Server struct {
	backend Backend
	opts    Options

	// mu guards the idempotency table and the current session per client
	// id. It is held for a lookup, a Submit (which only enqueues) and an
	// insert: never across I/O.
	mu       sync.Mutex
	dedupe   *Dedupe
	sessions map[uint64]*Session

	draining atomic.Bool // Shutdown: read no more requests, deliver what is owed

	connMu    sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[*Session]struct{}
	wg        sync.WaitGroup

	stats struct {
		accepted, refused, protocolErrors, slowConsumers, replaced atomic.Uint64
		submitted, duplicates, rejects, backpressured, reports     atomic.Uint64
	}
}

// Stats are the gateway's counters since it started.
type Stats struct {
	Accepted       uint64 // connections accepted
	Refused        uint64 // connections refused at the connection limit
	Active         int    // connections open now
	ProtocolErrors uint64 // connections closed for a protocol violation
	SlowConsumers  uint64 // connections closed because their outbound queue filled
	Replaced       uint64 // connections closed by a newer Hello with the same client id
	Submitted      uint64 // requests handed to the backend
	Duplicates     uint64 // requests answered from the idempotency table (or in flight)
	Rejects        uint64 // gateway rejects (never sequenced)
	Backpressured  uint64 // times a reader stopped at MaxOutstanding
	Reports        uint64 // execution reports queued by Deliver
}

// NewServer returns a server in front of b.
func NewServer(b Backend, opts Options) (*Server, error) {
	if err := opts.EnsureDefaults(); err != nil {
		return nil, err
	}
	d := opts.Dedupe
	if d == nil {
		var err error
		if d, err = NewDedupe(opts.MaxClients, opts.DedupeWindow); err != nil {
			return nil, err
		}
	}
	return &Server{
		backend:   b,
		opts:      opts,
		dedupe:    d,
		sessions:  make(map[uint64]*Session),
		listeners: make(map[net.Listener]struct{}),
		conns:     make(map[*Session]struct{}),
	}, nil
}

// ListenAndServe listens on addr (DefaultAddr if empty) and serves until
// Close.
func (s *Server) ListenAndServe(addr string) error {
	if addr == "" {
		addr = DefaultAddr
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// Serve accepts connections on l until Close, then returns ErrServerClosed.
func (s *Server) Serve(l net.Listener) error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.connMu.Unlock()
	var delay time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.connMu.Lock()
			closed := s.closed || s.draining.Load()
			s.connMu.Unlock()
			if closed {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		s.start(c)
	}
}

// ServeConn serves one connection accepted elsewhere (a Unix socket, an
// in-memory pipe), under the same limits as Serve's.
func (s *Server) ServeConn(c net.Conn) { s.start(c) }

func (s *Server) start(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	s.connMu.Lock()
	if s.closed || s.draining.Load() || len(s.conns) >= s.opts.MaxConnections {
		closed := s.closed || s.draining.Load()
		s.connMu.Unlock()
		code := wire.ErrCodeTooManyConns
		if closed {
			code = wire.ErrCodeShutdown
		} else {
			s.stats.refused.Add(1)
		}
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(wire.AppendError(nil, &wire.Error{Code: code, Text: []byte(code.String())}))
		c.Close()
		return
	}
	ss := newSession(s, c)
	s.conns[ss] = struct{}{}
	s.wg.Add(2)
	s.connMu.Unlock()
	s.stats.accepted.Add(1)
	go ss.readLoop()
	go ss.writeLoop()
}

func (s *Server) forget(ss *Session) {
	s.connMu.Lock()
	delete(s.conns, ss)
	s.connMu.Unlock()
	if id := ss.clientID.Load(); id != 0 {
		s.mu.Lock()
		if s.sessions[id] == ss {
			delete(s.sessions, id)
		}
		s.mu.Unlock()
	}
}

// Close stops accepting, closes every connection with an Error frame
// (shutdown) and waits for their goroutines. Outcomes the node completes
// afterwards still update the idempotency table.
func (s *Server) Close() error {
	s.connMu.Lock()
	if s.closed {
		s.connMu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for ss := range s.conns {
		ss.fail(wire.ErrCodeShutdown)
	}
	s.connMu.Unlock()
	s.wg.Wait()
	return nil
}

// Shutdown stops the server gracefully: it stops accepting connections and
// reading requests, waits until every request already handed to the backend
// has had its outcome delivered (the node keeps calling Complete and Deliver
// meanwhile), closes each connection with an Error frame (shutdown), and
// returns. If ctx ends first, it closes everything at once, as Close does,
// and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.draining.Store(true)
	s.connMu.Lock()
	for ss := range s.conns {
		// Wake readers blocked in Read; they see draining and stop.
		_ = ss.conn.SetReadDeadline(time.Now())
	}
	for l := range s.listeners {
		l.Close()
	}
	s.connMu.Unlock()
	idle := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(idle)
	}()
	select {
	case <-idle:
		return s.Close()
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// Deliver queues an execution report for the client's current connection.
// It never blocks: it reports false if the client is not connected or was
// just disconnected for not reading fast enough. Call it only after the
// command that caused the report is durable, and after Complete for that
// command if the report goes to the same client, so that the Ack comes
// first.
func (s *Server) Deliver(clientID uint64, r Report) bool {
	s.mu.Lock()
	ss := s.sessions[clientID]
	s.mu.Unlock()
	if ss == nil {
		return false
	}
	s.stats.reports.Add(1)
	return ss.enqueue(outMsg{typ: r.Type, seq: r.Seq, orderID: r.OrderID, order2: r.TakerOrderID,
		price: r.Price, qty: r.Qty, symbol: r.Symbol, side: r.TakerSide, cancel: r.CancelReason})
}

// LoadDedupe replaces the idempotency table with d (not copied: the server
// owns it from now on). A node that serves "recovering" while it replays
// its log calls it with a copy of the table it rebuilt, before it reports
// ready. Its size must match the server's options.
func (s *Server) LoadDedupe(d *Dedupe) error {
	if d.Clients() != s.opts.MaxClients || d.Window() != s.opts.DedupeWindow {
		return fmt.Errorf("gateway: idempotency table %d × %d, server configured for %d × %d",
			d.Clients(), d.Window(), s.opts.MaxClients, s.opts.DedupeWindow)
	}
	s.mu.Lock()
	s.dedupe = d
	s.mu.Unlock()
	return nil
}

// Dedupe returns a copy of the gateway's idempotency table, for tests and
// diagnostics (the node keeps its own, applied in sequence order).
func (s *Server) Dedupe() *Dedupe {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dedupe.Clone()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.connMu.Lock()
	active := len(s.conns)
	s.connMu.Unlock()
	return Stats{
		Accepted:       s.stats.accepted.Load(),
		Refused:        s.stats.refused.Load(),
		Active:         active,
		ProtocolErrors: s.stats.protocolErrors.Load(),
		SlowConsumers:  s.stats.slowConsumers.Load(),
		Replaced:       s.stats.replaced.Load(),
		Submitted:      s.stats.submitted.Load(),
		Duplicates:     s.stats.duplicates.Load(),
		Rejects:        s.stats.rejects.Load(),
		Backpressured:  s.stats.backpressured.Load(),
		Reports:        s.stats.reports.Load(),
	}
}
