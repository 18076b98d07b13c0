package walfile

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// buildLog writes n records in small synced batches and returns the files.
func buildLog(t *testing.T, n int) (map[string][]byte, []string, Options) {
	t.Helper()
	ref := newMemFS(t)
	opts := Options{FS: ref, SegmentSize: 16 << 10, MaxBatch: 2 << 10}
	files := buildBatches(t, opts, ref, n)
	var names []string // the segments (files also holds the prepared one)
	for nm := range files {
		if _, ok := parseSegmentName(nm); ok {
			names = append(names, nm)
		}
	}
	sort.Strings(names)
	return files, names, opts
}

func TestSegmentLevelCorruption(t *testing.T) {
	files, names, opts := buildLog(t, 1500)
	if len(names) < 4 {
		t.Fatalf("%d segments", len(names))
	}
	cases := map[string]func(f map[string][]byte){
		"middle segment missing": func(f map[string][]byte) { delete(f, names[1]) },
		"middle header zeroed":   func(f map[string][]byte) { f[names[1]] = append(make([]byte, 4096), f[names[1]][4096:]...) },
		"last header zeroed": func(f map[string][]byte) {
			last := names[len(names)-1]
			f[last] = append(make([]byte, 4096), f[last][4096:]...)
		},
		"last segment renamed": func(f map[string][]byte) {
			last := names[len(names)-1]
			f[segmentName(999999)] = f[last]
			delete(f, last)
		},
	}
	for name, damage := range cases {
		f := map[string][]byte{}
		for k, v := range files {
			f[k] = v
		}
		damage(f)
		m := memFSWith(t, testDir, f)
		o := opts
		o.FS = m
		if err := Verify(testDir, o); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Verify: %v, want ErrCorrupt", name, err)
		}
		if _, err := readAll(m, testDir, 1); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: reader: %v, want ErrCorrupt", name, err)
		}
		if _, err := Repair(testDir, o, false); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Repair without force: %v", name, err)
		}
	}
}

func TestRepairForce(t *testing.T) {
	files, names, opts := buildLog(t, 1500)
	// Flip a byte in the middle of the second segment.
	mid := names[1]
	b := append([]byte(nil), files[mid]...)
	recs := spans(t, mid, b)
	victim := recs[len(recs)/2]
	b[victim.start+RecordHeaderLen-1] ^= 1 // the type byte
	files[mid] = b
	m := memFSWith(t, testDir, files)
	o := opts
	o.FS = m
	if _, err := Open(testDir, o); err != nil {
		// Open reads only the last segment; the damage is found by
		// the reader and by Verify.
		t.Fatalf("Open: %v", err)
	}
	if _, err := readAll(m, testDir, 1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("reader: %v, want ErrCorrupt", err)
	}
	res, err := Repair(testDir, o, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.LastSeq != victim.seq-1 || len(res.Broken) != len(names)-1 {
		t.Fatalf("forced repair: %+v; want last %d and %d broken files", res, victim.seq-1, len(names)-1)
	}
	if err := Verify(testDir, o); err != nil {
		t.Fatalf("after forced repair: %v", err)
	}
	l, err := Open(testDir, o)
	if err != nil {
		t.Fatal(err)
	}
	if l.NextSeq() != victim.seq {
		t.Fatalf("after forced repair the log continues at %d, want %d", l.NextSeq(), victim.seq)
	}
	appendN(t, l, 50)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if last, err := readAll(m, testDir, 1); err != nil || last != victim.seq+49 {
		t.Fatalf("read back to %d, %v", last, err)
	}
}

// TestRestart moves a log aside and starts an empty one at a later
// sequence; it refuses while the log is open and when the aside name is
// taken.
func TestRestart(t *testing.T) {
	// The real filesystem: MemFS files cannot be locked.
	testDir := filepath.Join(t.TempDir(), "wal")
	opts := Options{SegmentSize: 64 << 10, Buffered: true}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 100)
	if err := Restart(testDir, testDir+".old", 500, opts); err == nil {
		t.Fatal("restart of an open log")
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Restart(testDir, testDir+".old", 0, opts); !errors.Is(err, ErrSequence) {
		t.Fatalf("restart at sequence 0: %v", err)
	}
	if err := Restart(testDir, testDir+".old", 500, opts); err != nil {
		t.Fatal(err)
	}
	old, err := Inspect(testDir+".old", opts)
	if err != nil || old.FirstSeq != 1 || old.LastSeq != 100 || old.Damage != nil {
		t.Fatalf("the old log: %+v %v", old, err)
	}
	l, err = Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if seq, err := l.Append(1, []byte("y")); err != nil || seq != 500 {
		t.Fatalf("first append of the new log: seq %d, %v", seq, err)
	}
	l.Close()
	if err := Restart(testDir, testDir+".old", 900, opts); err == nil {
		t.Fatal("restart onto an existing aside directory")
	}
}

// TestRestartSurvivesCrash cuts the power right after Restart returns: the
// old log must be whole at its new name and the new log must start at the
// new sequence. Skipping the directory fsyncs (the control) must lose the
// restart, or the test would not see a missing one.
func TestRestartSurvivesCrash(t *testing.T) {
	run := func(t *testing.T, skip bool) error {
		m := newMemFS(t)
		opts := Options{FS: m, SegmentSize: 64 << 10, Buffered: true}
		l, err := Open(testDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 100)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		ropts := opts
		if skip {
			ropts.FS = vfs.SkipSync(m, vfs.OpSyncDir)
		}
		if err := Restart(testDir, testDir+".old", 500, ropts); err != nil {
			t.Fatal(err)
		}
		c := m.Crash(vfs.CrashOptions{})
		copts := Options{FS: c, SegmentSize: 64 << 10, Buffered: true}
		old, err := Inspect(testDir+".old", copts)
		if err != nil || old.LastSeq != 100 || old.Damage != nil {
			return fmt.Errorf("the old log after a crash: %+v %v", old, err)
		}
		segs, err := List(testDir, copts)
		if err != nil || len(segs) != 1 || segs[0].FirstSeq != 500 {
			return fmt.Errorf("the new log after a crash: %+v %v", segs, err)
		}
		return nil
	}
	if err := run(t, false); err != nil {
		t.Fatal(err)
	}
	err := run(t, true)
	if err == nil {
		t.Fatal("a restart without its directory fsyncs survived the crash: the test cannot see a lost one")
	}
	t.Logf("control, directory fsyncs skipped: %v", err)
}
