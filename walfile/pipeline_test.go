package walfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

// TestPipelineYieldsToBusyLog: with a segment ready, the pipeline writes no
// zeros while the log is busy, and finishes once it is not; with none
// ready, it prepares one busy or not.
func TestPipelineYieldsToBusyLog(t *testing.T) {
	m := newMemFS(t)
	if err := m.MkdirAll(testDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var busy atomic.Bool
	busy.Store(true)
	p := startPipeline(m, testDir, 64<<10, 0, 2, busy.Load, nil, 4)
	defer p.stop()
	waitReady := func(n int32) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); p.ready.Load() < n; {
			if time.Now().After(deadline) {
				t.Fatalf("%d segments ready, want %d", p.ready.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitReady(1) // none ready: prepared although the log is busy
	time.Sleep(20 * yieldPause)
	if got := p.ready.Load(); got != 1 {
		t.Fatalf("%d segments ready while the log is busy, want 1", got)
	}
	if sz, _, err := m.Stat(testDir + "/prealloc-1" + tmpExt); err != nil || sz != 0 {
		t.Fatalf("second segment: %d bytes (%v), want it created and empty while the log is busy", sz, err)
	}
	busy.Store(false)
	waitReady(2)
	// Taking one leaves one ready; the next waits for the log again.
	busy.Store(true)
	if x, err := p.get(); err != nil || x.recycled || x.epoch != freshEpoch {
		t.Fatalf("%+v %v, want a fresh segment", x, err)
	}
	time.Sleep(20 * yieldPause)
	if got := p.ready.Load(); got != 1 {
		t.Fatalf("%d segments ready after one was taken while busy, want 1", got)
	}
	// A recycled file arriving while the pipeline waits to write zeros is
	// taken instead: ready at once, busy or not, the zero-filling abandoned.
	pool := testDir + "/" + segmentName(1) + recycleExt
	b := make([]byte, 64<<10)
	for i := range b {
		b[i] = byte(i*7 + 1) // leftovers of an earlier life
	}
	encodeSegHeader(b[:4096], 4096, 1, 7)
	f, err := m.OpenFile(pool, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	p.give([]string{pool})
	waitReady(2)
	if x, err := p.get(); err != nil || x.recycled {
		t.Fatalf("%+v %v, want the fresh segment first", x, err)
	}
	x, err := p.get()
	if err != nil || !x.recycled || x.path != pool || x.epoch != 8 {
		t.Fatalf("%+v %v, want the recycled file in its epoch 8", x, err)
	}
	x.discard(m)
	if _, _, err := m.Stat(pool); err != nil {
		t.Fatalf("a discarded recycled file must stay in the pool: %v", err)
	}
}

// TestPreparedSegmentSurvivesClose: the segment the pipeline prepared and
// nobody took stays after Close (or a crash), and the next Open hands it
// out instead of writing a new one full of zeros, fsynced first; it is then
// used like any fresh segment. Prepared files cut short, of another size or
// of the first segment's name are removed.
func TestPreparedSegmentSurvivesClose(t *testing.T) {
	m := newMemFS(t)
	opts := smallOpts(m)
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSync(t, l, 10)
	waitPrepared(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := m.ReadDir(testDir)
	var kept []string
	for _, n := range names {
		if isPipelineTmp(n) {
			kept = append(kept, n)
		}
	}
	if len(kept) != 1 {
		t.Fatalf("after Close: %v, want one prepared segment kept", names)
	}
	// Leftovers Open must not reuse.
	for name, size := range map[string]int64{
		"prealloc-7" + tmpExt:     opts.SegmentSize / 2,
		"prealloc-8" + tmpExt:     opts.SegmentSize * 2,
		"prealloc-first" + tmpExt: opts.SegmentSize,
	} {
		f, err := m.OpenFile(testDir+"/"+name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(make([]byte, size), 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	// Count what the reopened log does to the files in its directory.
	var mu sync.Mutex
	ops := map[string]vfs.Op{}
	watch := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		mu.Lock()
		ops[filepath.Base(name)] |= op
		mu.Unlock()
		return nil
	})
	ro := opts
	ro.FS = vfs.Inject(m, watch)
	l, err = Open(testDir, ro)
	if err != nil {
		t.Fatal(err)
	}
	waitPrepared(t, l)
	mu.Lock()
	if got := ops[kept[0]]; got&vfs.OpWrite != 0 || got&vfs.OpSync == 0 {
		t.Errorf("prepared segment %s on reopening: %v, want synced and not written", kept[0], got)
	}
	for name, op := range ops {
		if strings.HasPrefix(name, "prealloc-") && name != kept[0] && op&vfs.OpWrite != 0 {
			t.Errorf("%s written (%v): a new segment of zeros although one was left", name, op)
		}
	}
	mu.Unlock()
	for _, name := range []string{"prealloc-7", "prealloc-8", "prealloc-first"} {
		if _, _, err := m.Stat(testDir + "/" + name + tmpExt); err == nil {
			t.Errorf("%s%s left in place", name, tmpExt)
		}
	}
	// The reused file carries records like any other: across several
	// segment switches, then read back whole after another reopening.
	appendN(t, l, 3000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := l.NextSeq()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if last, err := readAll(m, testDir, 1); err != nil || last != 3010 || got != 3011 {
		t.Fatalf("after reopening: next seq %d, read back to %d (%v); want 3011 and 3010", got, last, err)
	}
}

// waitPrepared waits until l's pipeline has a segment ready.
func waitPrepared(t *testing.T, l *Log) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.pipe.ready.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no segment prepared")
		}
	}
}

// TestPreparedSegmentSyncFails: when the fsync of a segment left prepared
// fails on reopening, the file is not used and the log fails, never
// retrying the fsync, when it needs the next segment: records already
// durable stay so, later ones are refused.
func TestPreparedSegmentSyncFails(t *testing.T) {
	m := newMemFS(t)
	opts := smallOpts(m)
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	waitPrepared(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int32
	fail := vfs.InjectorFunc(func(op vfs.Op, name string) error {
		if op == vfs.OpSync && isPipelineTmp(filepath.Base(name)) {
			if syncs.Add(1) > 1 {
				t.Errorf("fsync of %s retried", name)
			}
			return vfs.ErrIO
		}
		return nil
	})
	ro := opts
	ro.FS = vfs.Inject(m, fail)
	l, err = Open(testDir, ro)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var buf [64]byte
	var durable uint64
	for i := 0; i < 10000; i++ {
		seq, err := l.Append(1, buf[:])
		if err != nil {
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("append %d: %v, want ErrFailed", i, err)
			}
			break
		}
		if err := l.WaitDurable(seq); err != nil {
			if !errors.Is(err, ErrFailed) {
				t.Fatalf("seq %d: %v, want ErrFailed", seq, err)
			}
			break
		}
		durable = seq
	}
	if syncs.Load() != 1 {
		t.Fatalf("%d fsyncs of the prepared segment, want 1", syncs.Load())
	}
	if durable == 0 || l.DurableSeq() != durable {
		t.Fatalf("durable %d, log says %d", durable, l.DurableSeq())
	}
	if _, err := l.Append(1, buf[:]); !errors.Is(err, ErrFailed) {
		t.Fatalf("append after the failure: %v", err)
	}
}
