package cow

import (
	"sync/atomic"
	"time"
)

// Policy says when a node takes a snapshot. Zero fields disable their
// trigger; a Policy with both zero snapshots only on request.
type Policy struct {
	// EveryCommands takes a snapshot once this many commands have been
	// applied since the last successful one.
	EveryCommands uint64
	// Every takes a snapshot once this much time has passed since the last
	// successful one (if any command was applied meanwhile).
	Every time.Duration
	// RetryAfter is how long to wait after a failed snapshot before the
	// next attempt; zero means one second. The helper restarts in
	// milliseconds, so this only paces attempts against a full disk.
	RetryAfter time.Duration
}

// Trigger applies a Policy for one node. Due, Started and Finished are
// called by the engine goroutine (which owns the clock readings it passes
// in); Request may be called from any goroutine, for on-demand snapshots and
// the one taken at clean shutdown.
type Trigger struct {
	p         Policy
	lastSeq   uint64 // sequence of the last successful snapshot (or the state recovered at start)
	lastAt    time.Time
	retryAt   time.Time
	failed    bool
	requested atomic.Bool
}

// NewTrigger returns a Trigger for a node whose newest snapshot (or
// initial state) is at seq, taken at now.
func NewTrigger(p Policy, seq uint64, now time.Time) *Trigger {
	if p.RetryAfter <= 0 {
		p.RetryAfter = time.Second
	}
	return &Trigger{p: p, lastSeq: seq, lastAt: now}
}

// Request asks for a snapshot at the next Due, even if nothing changed.
func (t *Trigger) Request() { t.requested.Store(true) }

// Due reports whether a snapshot should be taken now, with the engine at
// seq.
func (t *Trigger) Due(seq uint64, now time.Time) bool {
	if t.requested.Load() {
		return true
	}
	if seq == t.lastSeq {
		return false
	}
	if t.failed {
		return !now.Before(t.retryAt)
	}
	if t.p.EveryCommands > 0 && seq-t.lastSeq >= t.p.EveryCommands {
		return true
	}
	return t.p.Every > 0 && now.Sub(t.lastAt) >= t.p.Every
}

// Started records that Snapshot accepted a snapshot (a request is then
// satisfied).
func (t *Trigger) Started() { t.requested.Store(false) }

// Finished records a snapshot's Result, received at now. A failure makes
// the next snapshot due after Policy.RetryAfter.
func (t *Trigger) Finished(r Result, now time.Time) {
	if r.Err != nil {
		t.failed = true
		t.retryAt = now.Add(t.p.RetryAfter)
		return
	}
	t.failed = false
	t.lastSeq = r.Seq
	t.lastAt = now
}
