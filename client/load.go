package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/perf"
)

// LoadOptions configures Load. Zero values mean the documented defaults.
type LoadOptions struct {
	// Conns is the number of connections, each its own client id. Default 4.
	Conns int
	// Window bounds the requests in flight per connection. Default 256.
	Window int
	// Rate is the total requests per second, spread evenly over the
	// connections; 0 runs a closed loop (a new request as soon as the
	// window allows). With a rate, latency is measured from each request's
	// scheduled time, or from when the sender woke up to send it if that
	// was later: a sender held back by the server (a full window, a
	// blocked write) counts against the server, so a stall is not hidden
	// (no coordinated omission), but the sender's own timer is not. Go
	// rounds a sleep shorter than a millisecond up to about one when the
	// process is otherwise idle (golang/go#44343), so a paced sender wakes
	// up to a millisecond late and sends what is due in a burst; that
	// lateness is LoadResult.SenderLate, and latency from the schedule
	// alone is LoadResult.FromSchedule.
	Rate int
	// Duration of the run. Default 10 s.
	Duration time.Duration
	// ClientIDBase: connection k (0-based) uses client id ClientIDBase+k+1.
	// Default 1<<32. Request ids continue above the server's last for each
	// client id, so runs can be repeated against the same node.
	ClientIDBase uint64
	// Next returns the i-th request (i from 0) of connection conn. It is
	// called from one goroutine per connection. Required.
	Next func(conn int, i uint64) Request
}

// LoadResult is what a Load run measured.
type LoadResult struct {
	Requests  uint64          // requests sent
	Acked     uint64          // outcomes that were Acks
	Rejected  uint64          // outcomes that were rejects (engine or gateway)
	Seconds   float64         // wall time from the first send to the last outcome
	Latency   *perf.Histogram // request-to-outcome latency, every outcome, ns
	AckedRate float64         // Acked / Seconds
	// With a rate only: latency from each request's scheduled time, and
	// how late the sender's timer woke up for it (see LoadOptions.Rate).
	FromSchedule *perf.Histogram
	SenderLate   *perf.Histogram
}

// Load drives a gateway with opts.Conns connections for opts.Duration and
// measures outcome latency: the library behind `cowbook load`.
func Load(ctx context.Context, addr string, opts LoadOptions) (LoadResult, error) {
	if opts.Next == nil {
		return LoadResult{}, errors.New("client: LoadOptions.Next is required")
	}
	if opts.Conns <= 0 {
		opts.Conns = 4
	}
	if opts.Window <= 0 {
		opts.Window = 256
	}
	if opts.Duration <= 0 {
		opts.Duration = 10 * time.Second
	}
	if opts.ClientIDBase == 0 {
		opts.ClientIDBase = 1 << 32
	}
	clients := make([]*Client, opts.Conns)
	for k := range clients {
		c, err := Dial(ctx, addr, Options{ClientID: opts.ClientIDBase + uint64(k) + 1, MaxOutstanding: opts.Window})
		if err != nil {
			for _, c := range clients[:k] {
				c.Close()
			}
			return LoadResult{}, fmt.Errorf("client: load connection %d: %w", k, err)
		}
		clients[k] = c
	}
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	var interval time.Duration
	if opts.Rate > 0 {
		interval = time.Duration(int64(time.Second) * int64(opts.Conns) / int64(opts.Rate))
	}
	type connResult struct {
		sent, acked, rejected uint64
		hist                  connHists
		err                   error
	}
	results := make([]connResult, opts.Conns)
	start := time.Now()
	deadline := start.Add(opts.Duration)
	var wg sync.WaitGroup
	for k, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[k]
			r.hist = connHists{perf.NewHistogram(), perf.NewHistogram(), perf.NewHistogram()}
			r.sent, r.acked, r.rejected, r.err = drive(ctx, c, k, opts, interval, start, deadline, r.hist)
		}()
	}
	wg.Wait()
	res := LoadResult{Latency: perf.NewHistogram(), Seconds: time.Since(start).Seconds()}
	if interval > 0 {
		res.FromSchedule, res.SenderLate = perf.NewHistogram(), perf.NewHistogram()
	}
	var firstErr error
	for _, r := range results {
		res.Requests += r.sent
		res.Acked += r.acked
		res.Rejected += r.rejected
		res.Latency.Merge(r.hist.latency)
		if interval > 0 {
			res.FromSchedule.Merge(r.hist.fromSchedule)
			res.SenderLate.Merge(r.hist.senderLate)
		}
		if r.err != nil && firstErr == nil {
			firstErr = r.err
		}
	}
	if res.Seconds > 0 {
		res.AckedRate = float64(res.Acked) / res.Seconds
	}
	return res, firstErr
}

// connHists are one connection's histograms (see LoadResult).
type connHists struct{ latency, fromSchedule, senderLate *perf.Histogram }

// drive runs one connection: this goroutine sends, paced by interval (or
// by the window alone), and the client's reader goroutine records each
// outcome as it is decoded. Send times live in a ring indexed by request
// id: ids are consecutive on one connection and at most Window are in
// flight, so a ring of 4 × Window slots is never overwritten before it is
// read.
func drive(ctx context.Context, c *Client, conn int, opts LoadOptions, interval time.Duration,
	start, deadline time.Time, h connHists) (sent, acked, rejected uint64, err error) {
	// Per request, ns since start: when latency counts from, and the
	// scheduled time.
	sentAt := make([]atomic.Int64, 4*opts.Window)
	schedAt := make([]atomic.Int64, 4*opts.Window)
	// Outcomes are counted on the client's reader goroutine as they are
	// decoded (SubmitFunc): a hand-off to this goroutine would add a
	// thread wake-up to every latency.
	var mu sync.Mutex
	var got uint64
	total := ^uint64(0)
	finished := make(chan struct{})
	record := func(r Result) {
		now := int64(time.Since(start))
		from := sentAt[r.ReqID%uint64(len(sentAt))].Load()
		mu.Lock()
		defer mu.Unlock()
		h.latency.Record(now - from)
		if interval > 0 {
			sched := schedAt[r.ReqID%uint64(len(schedAt))].Load()
			h.fromSchedule.Record(now - sched)
			h.senderLate.Record(from - sched)
		}
		switch {
		case r.Err != nil:
			if err == nil {
				err = r.Err
			}
		case r.Reason == 0:
			acked++
		default:
			rejected++
		}
		got++
		if got == total {
			close(finished)
		}
	}
	var senderErr error
	var n uint64 // requests sent
	func() {
		woke := start // when the sender last came back from a sleep
		for i := uint64(0); ; i++ {
			var at time.Time
			if interval > 0 {
				at = start.Add(time.Duration(i) * interval)
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
					woke = time.Now()
				}
			}
			now := time.Now()
			if now.After(deadline) || ctx.Err() != nil {
				return
			}
			if interval == 0 {
				at = now
			}
			from := at
			if woke.After(from) {
				// Due while the sender slept past it: its timer's
				// lateness, not the server's. Time the sender spends
				// after waking (Submit waiting for the window) still
				// counts.
				from = woke
			}
			c.mu.Lock() // the id Submit will assign, so the time is in place first
			id := c.nextReq + 1
			c.mu.Unlock()
			sentAt[id%uint64(len(sentAt))].Store(int64(from.Sub(start)))
			schedAt[id%uint64(len(schedAt))].Store(int64(at.Sub(start)))
			if _, err := c.SubmitFunc(ctx, opts.Next(conn, i), record); err != nil {
				if ctx.Err() == nil {
					senderErr = err
				}
				return
			}
			n++
		}
	}()
	mu.Lock()
	total = n
	if got == total {
		close(finished)
	}
	mu.Unlock()
	<-finished
	mu.Lock()
	defer mu.Unlock()
	if err == nil {
		err = senderErr
	}
	return total, acked, rejected, err
}
