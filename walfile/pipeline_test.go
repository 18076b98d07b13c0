package walfile

import (
	"os"
	"sync/atomic"
	"testing"
	"time"
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
