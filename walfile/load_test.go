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
		appendSync(t, l, 2000)
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

// TestPrefixLoadingMatchesWholeLoadingRecycled: the same for a recycled last
// segment, loaded up to the end of its data and searched beyond it in
// pieces. Damage anywhere, and records of this life planted in the
// leftovers (across the search's piece boundaries too), are judged exactly
// as when the whole segment is loaded.
func TestPrefixLoadingMatchesWholeLoadingRecycled(t *testing.T) {
	const segSize = 6 * loadChunk
	m := newMemFS(t)
	// The earlier life: a segment file full of records.
	other := Options{FS: m, SegmentSize: segSize, MaxBatch: 64 << 10}
	l, err := Open("/data/other", other)
	if err != nil {
		t.Fatal(err)
	}
	for l.Stats().SegmentSwitches == 0 {
		appendN(t, l, 1000)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Bytes("/data/other/" + segmentName(1))
	c := memFSWith(t, testDir, map[string][]byte{segmentName(1) + recycleExt: old})
	l, err = Open(testDir, Options{FS: c, SegmentSize: segSize, MaxBatch: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for range 15 {
		appendSync(t, l, 2000)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	ref := snapshotFiles(t, c, testDir)
	name := lastSegment(ref)
	if !isRecycled(t, name, ref[name]) {
		t.Fatal("the segment is not recycled")
	}
	if r := inspectBoth(t, ref, "undamaged"); r.Damage != nil || r.LastSeq != 30000 {
		t.Fatalf("undamaged log: %+v", r)
	}
	if sd, err := loadSegment(c, testDir+"/"+name, nil, false); err != nil || sd.complete || int64(len(sd.b)) >= segSize/2 {
		t.Fatalf("the undamaged recycled segment was loaded whole (%d bytes, %v)", len(sd.b), err)
	}
	recs := spans(t, name, ref[name])
	end := recs[len(recs)-1].end
	if end < loadChunk {
		t.Fatalf("the data ends at %d, within the first chunk", end)
	}
	h, _ := checkSegHeader(ref[name], segment{name: name, first: 1})
	rng := rand.New(rand.NewSource(2))
	runs := 60
	if testing.Short() {
		runs = 12
	}
	if raceEnabled {
		runs = 4
	}
	// Offsets to plant a record of this life at: the search's first piece
	// starts at the end of the data and the next one 16 bytes before it ends.
	boundary := end + 4*loadChunk - 2*recordAlign
	// The loaded prefix ends with the chunk holding the end of the data.
	prefixEnd := (end/loadChunk + 1) * loadChunk
	plant := []int64{end + 4096, end + 2*loadChunk + 8, boundary - 24, boundary - 16, boundary - 8, boundary, segSize - 96,
		prefixEnd - 40, prefixEnd - 16, prefixEnd}
	var pbuf [64]byte
	for i := range runs + len(plant) {
		files := map[string][]byte{}
		for n, b := range ref {
			files[n] = b
		}
		b := append([]byte(nil), ref[name]...)
		label := ""
		if i < len(plant) {
			at := plant[i] &^ (recordAlign - 1)
			seq := uint64(30000 + 5)
			encodeRecord(b[at:], seq, 0, typeFor(seq), payloadFor(seq, pbuf[:]), h.key())
			label = "record planted at " + itoa(int(at))
		} else {
			at := rng.Int63n(int64(len(b)))
			if i%2 == 0 {
				at = rng.Int63n(end)
			}
			b[at] ^= byte(1 + rng.Intn(255))
			label = "byte " + itoa(int(at))
		}
		files[name] = b
		r := inspectBoth(t, files, label)
		if i < len(plant) && r.Damage == nil {
			t.Fatalf("%s: not found", label)
		}
	}
}
