package walfile

import (
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
	p := startPipeline(m, testDir, 64<<10, 0, 2, busy.Load)
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
	if _, _, err := p.get(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * yieldPause)
	if got := p.ready.Load(); got != 1 {
		t.Fatalf("%d segments ready after one was taken while busy, want 1", got)
	}
}
