package walfile

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

// syncGate blocks fdatasyncs of the first segment of a new log while it is
// closed. (A file keeps the name it was opened under: the first segment is
// prepared as prealloc-first.tmp.)
type syncGate struct {
	closed  atomic.Bool
	entered chan struct{} // receives when a sync starts waiting
	open    chan struct{}
	once    sync.Once
}

func newSyncGate() *syncGate {
	return &syncGate{entered: make(chan struct{}, 16), open: make(chan struct{})}
}

func (g *syncGate) MaybeError(op vfs.Op, name string) error {
	if op == vfs.OpSync && strings.HasSuffix(name, "prealloc-first"+tmpExt) && g.closed.Load() {
		g.entered <- struct{}{}
		<-g.open
	}
	return nil
}

func (g *syncGate) release() { g.once.Do(func() { close(g.open) }) }

// TestTornWriteBeneathOverlappingBatch: batch A is written and its fdatasync
// hangs; batch B is written meanwhile (writes overlap fdatasyncs). A crash
// that loses a sector of A but keeps B is a torn tail (nothing of A or B was
// acknowledged), not corruption: B's records must not claim that A was
// durable. Recovery stops exactly at the last acknowledged record.
func TestTornWriteBeneathOverlappingBatch(t *testing.T) {
	m := newMemFS(t)
	gate := newSyncGate()
	opts := Options{FS: vfs.Inject(m, gate), SegmentSize: 64 << 10, MaxBatch: 4 << 10}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.release()
	appendSync(t, l, 10)
	gate.closed.Store(true)
	appendN(t, l, 5) // batch A: written, then its fdatasync hangs
	select {
	case <-gate.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the fdatasync of batch A never started")
	}
	appendN(t, l, 5) // batch B: written while A's fdatasync hangs
	// Wait for all 20 records on disk, not for a count of batches: A's
	// records may have been cut into two batches, the second written
	// after the first one's fdatasync began.
	var files map[string][]byte
	var name string
	var recs []recordSpan
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		files = snapshotFiles(t, m, testDir)
		name = lastSegment(files)
		if recs = spans(t, name, files[name]); len(recs) == 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records on disk: batch B was not written while A's fdatasync was in flight", len(recs))
		}
	}
	if got := l.DurableSeq(); got != 10 {
		t.Fatalf("durable %d while the fdatasync hangs, want 10", got)
	}
	for _, r := range recs[10:] {
		if r.batch > 11 {
			t.Fatalf("record %d claims sequence %d was durable when it was written; only 10 was", r.seq, r.batch-1)
		}
	}
	// A sector of A is lost: the bytes from A's first record to the end of
	// its sector hold what they held before A was written (zeros).
	b := append([]byte(nil), files[name]...)
	a := recs[10].start
	clear(b[a : (a/vfs.SectorSize+1)*vfs.SectorSize])
	files[name] = b
	c := memFSWith(t, testDir, files)
	if err := Verify(testDir, Options{FS: c}); err == nil || isCorrupt(err) {
		t.Fatalf("Verify: %v, want a torn tail", err)
	}
	l2, err := Open(testDir, Options{FS: c, SegmentSize: 64 << 10, MaxBatch: 4 << 10})
	if err != nil {
		t.Fatalf("Open after losing a sector of an unacknowledged batch: %v", err)
	}
	defer l2.Close()
	if got := l2.DurableSeq(); got != 10 {
		t.Fatalf("recovered to %d, want 10", got)
	}
	if tt := l2.Recovery().TornTail; tt == nil || tt.Seq != 11 {
		t.Fatalf("torn tail %+v, want one at sequence 11", tt)
	}
	gate.closed.Store(false)
	gate.release()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
