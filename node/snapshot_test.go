package node

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

type failingSnapshotter struct{ calls atomic.Int64 }

func (f *failingSnapshotter) Capture([]byte, []engine.Span, mmapsnap.Meta) (func(string) error, time.Duration, error) {
	f.calls.Add(1)
	return nil, 0, errors.New("helper down")
}

func (f *failingSnapshotter) Close() error { return nil }

// TestSnapshotFailureBacksOff: a snapshotter that fails is retried once per
// SnapshotEvery commands, not on every command, and the node keeps
// acknowledging; Snapshot reports the failure.
func TestSnapshotFailureBacksOff(t *testing.T) {
	opts := testOptions(vfs.NewMemFS())
	fsnap := &failingSnapshotter{}
	opts.Snapshotter = fsnap
	opts.SnapshotEvery = 100
	opts.NoFinalSnapshot = true
	n, addr := openTest(t, "/data", opts)
	defer n.Close()
	o := &oracle{}
	stop := make(chan struct{})
	wg := driveLoad(addr, 0, 2, 1, o, stop)
	for deadline := time.Now().Add(20 * time.Second); n.Status().Seq < 1000 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	seq := n.Status().Seq
	if seq < 1000 {
		t.Fatalf("only %d commands sequenced", seq)
	}
	if c := fsnap.calls.Load(); c > int64(seq/100)+2 {
		t.Fatalf("%d capture attempts for %d commands with SnapshotEvery 100", c, seq)
	}
	if err := n.Snapshot(context.Background()); err == nil {
		t.Fatal("Snapshot with a failing snapshotter: no error")
	}
	if n.Figures().SnapshotsFailed == 0 {
		t.Fatal("failed snapshots not counted")
	}
}
