package walfile

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// crashRun runs a log over wrap(m) with a producer appending in rounds, and
// crashes m at a point chosen by seed (torn: keep random sectors of the
// unsynced writes). With aged set (files from agedLog), the log starts from
// them, with a full recycle pool, and truncates behind the writer every
// round, so its segments are recycled files. It returns an error describing
// any record reported durable before the crash that is missing after
// reopening.
func crashRun(t *testing.T, seed int64, torn bool, aged map[string][]byte, wrap func(vfs.FS) vfs.FS) error {
	t.Helper()
	recycle := aged != nil
	m := newMemFS(t)
	if recycle {
		m = memFSWith(t, testDir, aged)
	}
	opts := Options{FS: m, SegmentSize: crashSegSize, MaxBatch: 2 << 10}
	// Create the log over the real filesystem, so that the negative
	// controls test what happens afterwards (appends, segment switches).
	if !recycle {
		l, err := Open(testDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	opts.FS = wrap(m)
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	crashAfter := 1 + rng.Intn(60)
	var crashed *vfs.MemFS
	var durable uint64
	var buf [64]byte
	for round := 0; round < 80; round++ {
		var last uint64
		for range 1 + rng.Intn(10) {
			seq := l.NextSeq()
			if last, err = l.Append(typeFor(seq), payloadFor(seq, buf[:])); err != nil {
				t.Fatal(err)
			}
		}
		if rng.Intn(3) != 0 {
			if err := l.WaitDurable(last); err != nil {
				t.Fatal(err)
			}
		}
		if recycle {
			if err := l.TruncateBefore(l.DurableSeq() + 1); err != nil {
				t.Fatal(err)
			}
		}
		if round == crashAfter {
			// What is durable now must survive. Appends keep going while
			// the crash image is taken.
			durable = l.DurableSeq()
			co := vfs.CrashOptions{}
			if torn {
				co.Rand = rand.New(rand.NewSource(seed))
			}
			crashed = m.Crash(co)
		}
	}
	if recycle && l.Stats().SegmentsRecycled == 0 {
		t.Fatalf("seed %d: no segment was recycled", seed)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ro := Options{FS: crashed, SegmentSize: crashSegSize, MaxBatch: 2 << 10}
	l, err = Open(testDir, ro)
	if err != nil {
		return fmt.Errorf("seed %d: reopening after the crash: %v", seed, err)
	}
	if err := l.Close(); err != nil {
		return err
	}
	segs, _, err := listSegments(crashed, testDir)
	if err != nil || len(segs) == 0 {
		return fmt.Errorf("seed %d: no segments after the crash: %v", seed, err)
	}
	got, err := readAll(crashed, testDir, segs[0].first)
	if err != nil {
		return fmt.Errorf("seed %d: reading after the crash: %v", seed, err)
	}
	if got < durable {
		return fmt.Errorf("seed %d: %d records were durable before the crash, %d survive", seed, durable, got)
	}
	return nil
}

const crashSegSize = 16 << 10

// agedLog returns the files of a log aged by ageLog with the crash test's
// options, or nil when recycle is false.
func agedLog(t *testing.T, recycle bool) map[string][]byte {
	if !recycle {
		return nil
	}
	m := newMemFS(t)
	ageLog(t, Options{FS: m, SegmentSize: crashSegSize, MaxBatch: 2 << 10})
	return snapshotFiles(t, m, testDir)
}

func crashSeeds() int {
	if testing.Short() || raceEnabled {
		return 60
	}
	return 300
}

func noWrap(fs vfs.FS) vfs.FS { return fs }

func TestCrashKeepsDurableRecords(t *testing.T) {
	for _, recycle := range []bool{false, true} {
		aged := agedLog(t, recycle)
		for _, torn := range []bool{false, true} {
			for seed := range int64(crashSeeds()) {
				if err := crashRun(t, seed, torn, aged, noWrap); err != nil {
					t.Fatalf("recycle=%v torn=%v: %v", recycle, torn, err)
				}
			}
		}
	}
}

// The negative controls: the same test over a filesystem that skips the
// fdatasync of records, or the directory fsync that makes a new segment's
// name durable, must see durable records lost. If it did not, the crash test
// would be blind.
func TestCrashNegativeControlSkipSync(t *testing.T) {
	negativeControl(t, vfs.OpSync)
}

func TestCrashNegativeControlSkipSyncDir(t *testing.T) {
	negativeControl(t, vfs.OpSyncDir)
}

func negativeControl(t *testing.T, skip vfs.Op) {
	for _, recycle := range []bool{false, true} {
		aged := agedLog(t, recycle)
		for _, torn := range []bool{false, true} {
			lost := 0
			for seed := range int64(crashSeeds()) {
				if err := crashRun(t, seed, torn, aged, func(fs vfs.FS) vfs.FS { return vfs.SkipSync(fs, skip) }); err != nil {
					lost++
				}
			}
			if lost == 0 {
				t.Fatalf("skipping %v, recycle=%v torn=%v: no run lost a durable record; the crash test cannot detect missing syncs", skip, recycle, torn)
			}
			t.Logf("skipping %v, recycle=%v torn=%v: %d of %d runs lost durable records", skip, recycle, torn, lost, crashSeeds())
		}
	}
}
