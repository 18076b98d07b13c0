package node

import (
	"context"
	"errors"
	"math/rand"
	"syscall"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// TestFailStop makes the log's device fail (EIO on a write or fdatasync, and
// on everything after) under load: the node must stop, Run must return the
// error, nothing may be acknowledged after it, and a recovery from what
// was durable must hold every outcome acknowledged before it.
func TestFailStop(t *testing.T) {
	for i := 0; i < 4; i++ {
		seed := time.Now().UnixNano()
		rng := rand.New(rand.NewSource(seed))
		fs := vfs.NewMemFS()
		opts := testOptions(fs)
		opts.RetainLog = true
		fault := &vfs.FailAt{Ops: vfs.OpWrite | vfs.OpSync, N: int64(20 + rng.Intn(300)), Err: syscall.EIO, Sticky: true}
		opts.Log.FS = vfs.Inject(fs, fault)
		n, addr := openTest(t, "/data", opts)
		runErr := make(chan error, 1)
		go func() { runErr <- n.Run(context.Background()) }()
		o := &oracle{}
		stop := make(chan struct{})
		wg := driveLoad(addr, 0, 3, seed, o, stop)
		var err error
		select {
		case err = <-runErr:
		case <-time.After(20 * time.Second):
			t.Fatalf("seed %d: the node did not stop after the device failed (fault fired %v)", seed, fault.Fired())
		}
		close(stop)
		wg.Wait()
		if !errors.Is(err, walfile.ErrFailed) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("seed %d: Run returned %v, want the log's failure (EIO)", seed, err)
		}
		if st := n.Status(); st.State.String() == "ready" {
			t.Fatalf("seed %d: still ready after a fail-stop", seed)
		}
		// Recover from what the device made durable.
		image := fs.Crash(vfs.CrashOptions{})
		ropts := testOptions(image)
		ropts.RetainLog = true
		n2, _ := openTest(t, "/data", ropts)
		if err := checkAcked(n2, o.acked); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		var hash uint64
		n2.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { hash = e.Checksum() })
		n2.Abandon()
		if err := checkFullReplay(image, "/data", o.acked, hash); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		t.Logf("seed %d: failed at log op %d, %d outcomes acknowledged before, all recovered", seed, fault.N, len(o.acked))
	}
}
