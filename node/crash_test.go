package node

import (
	"context"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/vfs"
)

var long = flag.Bool("long", false, "run the long crash tests")

type crashConfig struct {
	logSkip   vfs.Op // durability operations skipped for the log only (negative control)
	snapSkip  vfs.Op // durability operations skipped for snapshots only (negative control)
	retainLog bool   // keep the whole log and compare with a full replay
}

// runCrashModel drives clients against a node over an in-memory
// filesystem, takes a power-cut image of it at a random instant (dropping
// unsynced data and directory entries, sometimes tearing unsynced writes),
// reopens the node on the image and checks the oracle: every request a
// client was acked (or engine-rejected with a sequence) before the cut is
// remembered with the same sequence and outcome; with the whole log
// retained, sequences are contiguous, nothing ran twice and the state hash
// equals a full replay of the log. It returns the first violation.
func runCrashModel(t *testing.T, seed int64, cycles int, cfg crashConfig) error {
	rng := rand.New(rand.NewSource(seed))
	fs := vfs.NewMemFS()
	var acked []ackRecord
	progress := 0
	for cycle := 0; ; cycle++ {
		opts := testOptions(fs)
		opts.Log.SegmentSize = 64 << 10
		// Room for every client id of the run, and a small arena, so that
		// snapshots are quick even under -race.
		opts.Manifest.DedupeClients = 3*cycles + 8
		opts.SnapshotEvery = uint64(50 + rng.Intn(200))
		opts.RetainLog = cfg.retainLog
		opts.NoFinalSnapshot = true
		if cfg.logSkip != 0 {
			opts.Log.FS = vfs.SkipSync(fs, cfg.logSkip)
		}
		runFor := time.Duration(5+rng.Intn(40)) * time.Millisecond
		if cfg.snapSkip != 0 {
			// Small segments, frequent snapshots and longer runs make sure
			// a snapshot truncates the log before the cut, even under -race.
			opts.Snap.FS = vfs.SkipSync(fs, cfg.snapSkip)
			opts.Log.SegmentSize = 16 << 10
			opts.SnapshotEvery = uint64(10 + rng.Intn(40))
			runFor = time.Duration(50+rng.Intn(100)) * time.Millisecond
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		opts.Listener = l
		n, err := Open("/data", opts)
		if err != nil {
			l.Close()
			return fmt.Errorf("seed %d cycle %d: reopen after crash: %w", seed, cycle, err)
		}
		if err := checkAcked(n, acked); err != nil {
			n.Abandon()
			return fmt.Errorf("seed %d cycle %d: %w", seed, cycle, err)
		}
		if cfg.retainLog {
			var hash uint64
			n.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { hash = e.Checksum() })
			if err := checkFullReplay(fs, "/data", acked, hash); err != nil {
				n.Abandon()
				return fmt.Errorf("seed %d cycle %d: %w", seed, cycle, err)
			}
		}
		if cycle == cycles {
			n.Abandon()
			break
		}
		o := &oracle{acked: acked}
		stop := make(chan struct{})
		wg := driveLoad(l.Addr().String(), uint64(cycle)*3, 3, seed*1000+int64(cycle)*10, o, stop)
		time.Sleep(runFor)
		var co vfs.CrashOptions
		if rng.Intn(2) == 0 {
			co.Rand = rand.New(rand.NewSource(rng.Int63()))
		}
		o.mu.Lock()
		image := fs.Crash(co)
		progress += len(o.acked) - len(acked)
		acked = append([]ackRecord(nil), o.acked...)
		o.mu.Unlock()
		close(stop)
		n.Abandon()
		wg.Wait()
		fs = image
	}
	if progress == 0 {
		return errNoProgress
	}
	t.Logf("seed %d: %d cycles, %d outcomes acknowledged before a cut, all found after it", seed, cycles, progress)
	return nil
}

func crashCycles() int {
	if *long {
		return 200
	}
	if testing.Short() {
		return 5
	}
	return 20
}

func TestCrashModel(t *testing.T) {
	for _, retain := range []bool{true, false} {
		t.Run(fmt.Sprintf("retainLog=%v", retain), func(t *testing.T) {
			seed := time.Now().UnixNano()
			t.Logf("seed %d", seed)
			if err := runCrashModel(t, seed, crashCycles(), crashConfig{retainLog: retain}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCrashModelNegativeControls checks that the crash model can fail:
// without the log's fdatasync, or without the directory fsync that
// publishes a snapshot (whose log prefix is then truncated), acked
// commands are lost or recovery is impossible.
func TestCrashModelNegativeControls(t *testing.T) {
	cases := []struct {
		name string
		cfg  crashConfig
	}{
		{"skip-fdatasync", crashConfig{logSkip: vfs.OpSync, retainLog: true}},
		{"skip-snapshot-dir-fsync", crashConfig{snapSkip: vfs.OpSyncDir}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A control may take several cycles to bite; try a few seeds.
			for i := 0; i < 5; i++ {
				seed := time.Now().UnixNano()
				err := runCrashModel(t, seed, crashCycles(), tc.cfg)
				if err != nil && err != errNoProgress {
					t.Logf("detected as it must be: %v", err)
					return
				}
			}
			t.Fatalf("%s: the crash model did not detect the missing sync", tc.name)
		})
	}
}
