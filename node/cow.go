package node

import (
	"errors"
	"sync"
	"time"

	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/mmapsnap"
)

// CowSnapshotter is the Snapshotter `cowbook serve` uses: a fork-based
// copy-on-write snapshot through package cow's helper process, so the
// engine pauses only for the fork. Its helper writes the snapshot with
// mmapsnap into the directory it was started with (cow.MmapsnapSink), and
// only once the log is durable through the snapshot's sequence: the node
// hands it the log's durability wait before the first Capture.
type CowSnapshotter struct {
	s    *cow.Snapshotter
	mu   sync.Mutex
	wait func(seq uint64) error
}

// errNoLog is returned by the durability gate before the node has opened
// its log: no snapshot may be published then.
var errNoLog = errors.New("node: snapshot before the log is open")

// NewCowSnapshotter starts the helper process; opts.Gate is replaced by
// the node's durability wait. opts.HelperArgs must name the hidden command
// that serves the helper with cow.MmapsnapSink on the node's snapshot
// directory (`cowbook __cow-helper --dir DATA/snap`).
func NewCowSnapshotter(opts cow.Options) (*CowSnapshotter, error) {
	c := &CowSnapshotter{}
	opts.Gate = c.gate
	s, err := cow.Start(opts)
	if err != nil {
		return nil, err
	}
	c.s = s
	return c, nil
}

func (c *CowSnapshotter) gate(seq uint64) error {
	c.mu.Lock()
	wait := c.wait
	c.mu.Unlock()
	if wait == nil {
		return errNoLog
	}
	return wait(seq)
}

// setDurableWait is called by the node once its log is open.
func (c *CowSnapshotter) setDurableWait(wait func(seq uint64) error) {
	c.mu.Lock()
	c.wait = wait
	c.mu.Unlock()
}

// Capture implements Snapshotter: it forks (the pause) and returns a
// function that waits for the helper's result.
func (c *CowSnapshotter) Capture(arena []byte, hot []engine.Span, meta mmapsnap.Meta) (func(string) error, time.Duration, error) {
	m := cow.Meta{Seq: meta.Seq, LayoutVersion: meta.LayoutVersion, StateChecksum: meta.StateChecksum, Hot: make([]cow.Span, len(hot))}
	for i, h := range hot {
		m.Hot[i] = cow.Span{Off: h.Off, Len: h.Len}
	}
	t, err := c.s.Snapshot(arena, m)
	if err != nil {
		return nil, 0, err
	}
	return func(string) error {
		for r := range c.s.Results() {
			if r.ID == t.ID {
				return r.Err
			}
		}
		return errors.New("node: snapshot helper stopped")
	}, t.Pause, nil
}

// Close implements Snapshotter.
func (c *CowSnapshotter) Close() error { return c.s.Close() }

// durableWaiter is implemented by Snapshotters that publish on their own
// and must be told how to wait for the log (CowSnapshotter).
type durableWaiter interface {
	setDurableWait(func(seq uint64) error)
}
