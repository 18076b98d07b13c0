package walfile

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// opLog records the operations a log makes and fails the chosen one.
type opLog struct {
	mu       sync.Mutex
	fail     *vfs.FailAt
	failed   map[string]bool // files whose write or sync failed
	syncsAft []string        // syncs of such a file after its failure
}

func (o *opLog) MaybeError(op vfs.Op, name string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if op == vfs.OpSync && o.failed[name] {
		o.syncsAft = append(o.syncsAft, name)
	}
	err := o.fail.MaybeError(op, name)
	if err != nil && op&(vfs.OpWrite|vfs.OpSync) != 0 {
		o.failed[name] = true
	}
	return err
}

// faultWorkload runs a log over fs through several segment switches:
// rounds of appends, each waited for; with recycle, each followed by a
// TruncateBefore behind the writer. It returns the highest sequence any
// call reported durable, and checks on the way that nothing becomes durable
// after the log failed.
func faultWorkload(t *testing.T, fs vfs.FS, label string, recycle bool) (acked uint64, failed bool) {
	t.Helper()
	opts := Options{FS: fs, SegmentSize: 16 << 10, MaxBatch: 2 << 10}
	l, err := Open(testDir, opts)
	if err != nil {
		return 0, true
	}
	var buf [64]byte
	var fail error
	for round := 0; round < 100 && fail == nil; round++ {
		var last uint64
		for range 1 + round%9 {
			seq := l.NextSeq()
			if last, err = l.Append(typeFor(seq), payloadFor(seq, buf[:])); err != nil {
				fail = err
				break
			}
		}
		if fail != nil {
			break
		}
		if err := l.WaitDurable(last); err != nil {
			fail = err
			break
		}
		acked = max(acked, last)
		if recycle {
			// A failed truncation (a rename, remove or directory fsync)
			// loses nothing: the log goes on.
			_ = l.TruncateBefore(l.DurableSeq() + 1)
		}
	}
	if fail != nil {
		if !errors.Is(fail, ErrFailed) {
			t.Fatalf("%s: error %v does not wrap ErrFailed", label, fail)
		}
		frozen := l.DurableSeq()
		if _, err := l.Append(1, nil); !errors.Is(err, ErrFailed) {
			t.Fatalf("%s: Append after failure: %v", label, err)
		}
		if err := l.WaitDurable(frozen + 1); !errors.Is(err, ErrFailed) {
			t.Fatalf("%s: WaitDurable after failure: %v", label, err)
		}
		if err := l.Close(); !errors.Is(err, ErrFailed) {
			t.Fatalf("%s: Close after failure: %v", label, err)
		}
		if got := l.DurableSeq(); got != frozen {
			t.Fatalf("%s: durable sequence moved from %d to %d after the failure", label, frozen, got)
		}
		acked = max(acked, frozen)
		return acked, true
	}
	if err := l.Close(); err != nil {
		// A failure while closing (the last batch, or the file pipeline's
		// cleanup): it must still be reported as ErrFailed.
		if !errors.Is(err, ErrFailed) {
			t.Fatalf("%s: Close: %v", label, err)
		}
		return max(acked, l.DurableSeq()), true
	}
	return max(acked, l.DurableSeq()), false
}

// TestFaultInjectionEveryOp fails, in turn, every operation of a reference
// run with EIO and with ENOSPC. Whatever fails: the log turns failed and
// says so; every sequence it reported durable survives a crash right after;
// and no file whose write or fdatasync failed is ever synced again.
func TestFaultInjectionEveryOp(t *testing.T) { faultInjectionEveryOp(t, false) }

// TestFaultInjectionEveryOpRecycled is the same starting from a log with a
// full recycle pool that truncates behind the writer, so that failures hit
// the reuse of recycled files too.
func TestFaultInjectionEveryOpRecycled(t *testing.T) { faultInjectionEveryOp(t, true) }

func faultInjectionEveryOp(t *testing.T, recycle bool) {
	var aged map[string][]byte
	newFS := newMemFS
	if recycle {
		m := newMemFS(t)
		ageLog(t, Options{FS: m, SegmentSize: 16 << 10, MaxBatch: 2 << 10})
		aged = snapshotFiles(t, m, testDir)
		newFS = func(t testing.TB) *vfs.MemFS { return memFSWith(t, testDir, aged) }
	}
	ref := newFS(t)
	count := &vfs.FailAt{Ops: vfs.OpAll, N: -1}
	if _, failed := faultWorkload(t, vfs.Inject(ref, count), "reference", recycle); failed {
		t.Fatal("reference run failed")
	}
	n := count.Seen()
	if n < 100 {
		t.Fatalf("reference run made only %d operations", n)
	}
	step := int64(1)
	if raceEnabled || testing.Short() {
		step = 7
	}
	fired, runs := 0, 0
	for _, injected := range []error{vfs.ErrIO, vfs.ErrNoSpace} {
		for i := int64(0); i < n+10; i += step {
			label := fmt.Sprintf("%v at op %d of %d", injected, i, n)
			m := newFS(t)
			ol := &opLog{fail: &vfs.FailAt{Ops: vfs.OpAll, N: i, Err: injected}, failed: map[string]bool{}}
			acked, _ := faultWorkload(t, vfs.Inject(m, vfs.InjectorFunc(ol.MaybeError)), label, recycle)
			runs++
			if ol.fail.Fired() {
				fired++
			}
			if len(ol.syncsAft) > 0 {
				t.Fatalf("%s: synced again after a failed write or sync: %v", label, ol.syncsAft)
			}
			c := m.Crash(vfs.CrashOptions{})
			from := uint64(1)
			if segs, _, _ := listSegments(c, testDir); len(segs) > 0 {
				from = segs[0].first
			}
			got, err := readAll(c, testDir, from)
			if err != nil && !(acked == 0 && errors.Is(err, os.ErrNotExist)) {
				t.Fatalf("%s: reading after crash: %v", label, err)
			}
			if got < acked && acked >= from {
				t.Fatalf("%s: %d reported durable, only %d survive a crash", label, acked, got)
			}
		}
	}
	// Runs differ a little in their number of operations (the file
	// pipeline runs beside the writer), so not every index fires.
	if fired < runs/2 {
		t.Fatalf("only %d of %d injected errors fired", fired, runs)
	}
}
