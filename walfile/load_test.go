package walfile

import (
	"encoding/json"
	"math/rand"
	"testing"
)

// inspectBoth inspects the log in fs both with prefix loading and with whole
// segments, and fails the test if the reports differ.
func inspectBoth(t *testing.T, files map[string][]byte, label string) *Report {
	t.Helper()
	m := memFSWith(t, testDir, files)
	got, err := Inspect(testDir, Options{FS: m})
	if err != nil {
		t.Fatal(err)
	}
	alwaysLoadWhole = true
	want, err := Inspect(testDir, Options{FS: m})
	alwaysLoadWhole = false
	if err != nil {
		t.Fatal(err)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s: prefix loading reports\n%s\nwhole loading reports\n%s", label, g, w)
	}
	if (got.Damage == nil) != (want.Damage == nil) || (got.Damage != nil && got.Damage.Err != nil) != (want.Damage != nil && want.Damage.Err != nil) {
		t.Fatalf("%s: damage differs: %+v vs %+v", label, got.Damage, want.Damage)
	}
	return got
}

// TestPrefixLoadingMatchesWholeLoading damages a log whose segments are
// several load chunks long (records near the start, zeros after) at random
// places, the zeroed end included, and checks that reading only the non-zero
// prefix and checking the rest for zeros reports exactly what reading whole
// segments does.
func TestPrefixLoadingMatchesWholeLoading(t *testing.T) {
	m := newMemFS(t)
	opts := Options{FS: m, SegmentSize: 3 * loadChunk, MaxBatch: 64 << 10}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		appendN(t, l, 2000)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ref := snapshotFiles(t, m, testDir)
	if r := inspectBoth(t, ref, "undamaged"); r.Damage != nil || r.LastSeq != 12000 {
		t.Fatalf("undamaged log: %+v", r)
	}
	name := lastSegment(ref)
	end := int64(0)
	for _, s := range spans(t, name, ref[name]) {
		end = s.end
	}
	rng := rand.New(rand.NewSource(1))
	runs := 120
	if testing.Short() {
		runs = 30
	}
	if raceEnabled {
		runs = 8
	}
	for i := range runs {
		files := map[string][]byte{}
		for n, b := range ref {
			files[n] = b
		}
		b := append([]byte(nil), ref[name]...)
		var at int64
		switch i % 3 {
		case 0: // anywhere in the zeroed end, past the first chunk
			at = loadChunk + rng.Int63n(int64(len(b))-loadChunk)
		case 1: // in the records
			at = rng.Int63n(end)
		default: // anywhere
			at = rng.Int63n(int64(len(b)))
		}
		b[at] ^= byte(1 + rng.Intn(255))
		files[name] = b
		r := inspectBoth(t, files, "byte "+itoa(int(at)))
		if r.Damage == nil && at >= end {
			t.Fatalf("a non-zero byte at %d, after the end of the data at %d, was not reported", at, end)
		}
	}
}

// TestZeroRunCrossingTheLoadChunk: a record whose payload holds a whole
// chunk of zeros must not be taken for the end of the data.
func TestZeroRunCrossingTheLoadChunk(t *testing.T) {
	m := newMemFS(t)
	opts := Options{FS: m, SegmentSize: 8 * loadChunk, MaxBatch: 4 * loadChunk}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3*loadChunk)
	big[0], big[len(big)-1] = 1, 2
	for _, p := range [][]byte{{7}, big, {9}} {
		if _, err := l.Append(1, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := snapshotFiles(t, m, testDir)
	if r := inspectBoth(t, files, "zero run"); r.Damage != nil || r.LastSeq != 3 {
		t.Fatalf("log with a zero run: %+v (damage %+v)", r, r.Damage)
	}
	l, err = Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.NextSeq() != 4 || l.Recovery().TornTail != nil {
		t.Fatalf("reopened at %d, torn tail %+v", l.NextSeq(), l.Recovery().TornTail)
	}
	r, err := NewReader(testDir, Options{FS: m}, 2)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := r.Next()
	if err != nil || rec.Seq != 2 || len(rec.Payload) != len(big) || rec.Payload[len(big)-1] != 2 {
		t.Fatalf("reading the large record: %d, %v", rec.Seq, err)
	}
}
