package walfile

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
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

// TestCrashAtEveryOpRecycled takes a crash image just before each
// operation, in turn, of a run that starts with a full recycle pool and
// truncates behind the writer every round, so that images fall inside
// every step of moving a segment to the pool and of reusing one (renames,
// header write, its fdatasync, directory fsyncs), with unsynced writes
// dropped or kept torn. Every record acknowledged before the image was
// taken must read back from it. The negative controls skip the fdatasyncs,
// or the directory fsyncs: some image must then lose an acknowledged record.
func TestCrashAtEveryOpRecycled(t *testing.T) {
	aged := agedLog(t, true)
	if lost := crashAtEveryOp(t, aged, 0); lost > 0 {
		t.Fatalf("%d crash images lost acknowledged records", lost)
	}
	for _, skip := range []vfs.Op{vfs.OpSync, vfs.OpSyncDir} {
		if lost := crashAtEveryOp(t, aged, skip); lost == 0 {
			t.Fatalf("skipping %v: no crash image lost an acknowledged record; the test cannot see missing syncs", skip)
		}
	}
}

// crashAtEveryOp runs crashOpWorkload over a MemFS holding aged, wrapped to
// skip the syncs in skip (none if 0), once per operation index, takes a
// crash image before that operation, and returns how many images lost an
// acknowledged record.
func crashAtEveryOp(t *testing.T, aged map[string][]byte, skip vfs.Op) (lost int) {
	wrap := func(fs vfs.FS) vfs.FS {
		if skip != 0 {
			return vfs.SkipSync(fs, skip)
		}
		return fs
	}
	var total int64
	{
		count := &vfs.FailAt{Ops: vfs.OpAll, N: -1}
		m := memFSWith(t, testDir, aged)
		crashOpWorkload(t, wrap(vfs.Inject(m, count)), nil)
		total = count.Seen()
	}
	step := int64(1)
	if testing.Short() || raceEnabled {
		step = 5
	}
	taken := 0
	for i := int64(0); i < total; i += step {
		m := memFSWith(t, testDir, aged)
		var acked atomic.Uint64
		var img *vfs.MemFS
		var imgAcked uint64
		var mu sync.Mutex
		n := int64(0)
		inj := vfs.InjectorFunc(func(op vfs.Op, name string) error {
			mu.Lock()
			defer mu.Unlock()
			if n == i {
				imgAcked = acked.Load()
				co := vfs.CrashOptions{}
				if i%2 == 1 {
					co.Rand = rand.New(rand.NewSource(i))
				}
				img = m.Crash(co)
			}
			n++
			return nil
		})
		crashOpWorkload(t, wrap(vfs.Inject(m, inj)), &acked)
		if img == nil {
			continue // this run made fewer operations
		}
		taken++
		segs, _, _ := listSegments(img, testDir)
		if len(segs) == 0 {
			lost++
			continue
		}
		l, err := Open(testDir, Options{FS: img, SegmentSize: crashSegSize, MaxBatch: 2 << 10})
		if err != nil {
			if skip == 0 {
				t.Fatalf("image before op %d: Open: %v", i, err)
			}
			lost++
			continue
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		segs, _, _ = listSegments(img, testDir)
		got, err := readAll(img, testDir, segs[0].first)
		if err != nil || got < imgAcked {
			if skip == 0 {
				t.Errorf("image before op %d: read to %d, %v; %d were acknowledged", i, got, err, imgAcked)
			}
			lost++
		}
	}
	t.Logf("skipping %v: %d operations, %d crash images, %d lost acknowledged records", skip, total, taken, lost)
	if taken < int(total/step)/2 {
		t.Fatalf("only %d of %d images taken", taken, total/step)
	}
	return lost
}

// crashOpWorkload runs rounds of appends over fs, each waited for and
// followed by a TruncateBefore behind the writer, and stores in acked (when
// set) the highest sequence acknowledged so far.
func crashOpWorkload(t *testing.T, fs vfs.FS, acked *atomic.Uint64) {
	t.Helper()
	l, err := Open(testDir, Options{FS: fs, SegmentSize: crashSegSize, MaxBatch: 2 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for round := range 120 {
		appendSync(t, l, 1+round%13)
		if acked != nil {
			acked.Store(l.DurableSeq())
		}
		if err := l.TruncateBefore(l.DurableSeq() + 1); err != nil {
			t.Fatal(err)
		}
	}
	if l.Stats().SegmentsRecycled < 2 {
		t.Fatalf("%d segments recycled, want at least 2", l.Stats().SegmentsRecycled)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
