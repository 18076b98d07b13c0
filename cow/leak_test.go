package cow

import (
	"flag"
	"syscall"
	"testing"
	"time"
)

var leakSnapshots = flag.Int("cow.leak-snapshots", 2000, "snapshots in TestThousandsOfSnapshotsLeaveNothing")

// TestThousandsOfSnapshotsLeaveNothing takes thousands of small snapshots,
// killing the helper now and then, and checks that no descriptor and no
// child (zombie or not) is left but the helper.
func TestThousandsOfSnapshotsLeaveNothing(t *testing.T) {
	n := *leakSnapshots
	if testing.Short() || raceEnabled {
		n = min(n, 300)
	}
	s, _ := startTest(t, "discard", nil)
	arena := allocArena(t, 64<<10)
	fds := openFds(t)
	failed := 0
	for i := range n {
		if i%500 == 250 {
			syscall.Kill(s.HelperPid(), syscall.SIGKILL)
		}
		fill(arena, uint64(i))
		if _, err := s.Snapshot(arena, Meta{Seq: uint64(i + 1)}); err != nil {
			if err == ErrHelperDown {
				waitReady(t, s)
				failed++
				continue
			}
			t.Fatalf("snapshot %d: %v", i, err)
		}
		r := await(t, s, 30*time.Second)
		if r.Err != nil {
			failed++
			continue
		}
		if r.Checksum != crc(arena) {
			t.Fatalf("snapshot %d: checksum %08x, want %08x", i, r.Checksum, crc(arena))
		}
	}
	if failed > n/100 {
		t.Fatalf("%d of %d snapshots failed; only those around a helper kill may", failed, n)
	}
	waitReady(t, s)
	checkOnlyHelper(t, s)
	if got := openFds(t); got != fds {
		t.Fatalf("open descriptors %d after %d snapshots, %d before", got, n, fds)
	}
	t.Logf("%d snapshots, %d failed around helper kills", n, failed)
}
