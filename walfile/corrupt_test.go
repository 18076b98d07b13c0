package walfile

import (
	"errors"
	"fmt"
	"math/rand"
	"sort"
	"testing"
)

// TestRandomDamageIsDetected flips bits and overwrites byte runs at random
// places across the segments of a log: every change is detected by Verify;
// no reader ever returns a record that differs from what was written;
// damage before the last batch is reported as corruption, never cut as a
// torn tail; and Open never silently truncates it.
func TestRandomDamageIsDetected(t *testing.T) { randomDamage(t, false) }

// TestRandomDamageIsDetectedRecycled is the same over recycled segments.
// There the bytes after a segment's data are leftovers of an earlier life
// that no check covers: damage confined to them may go unseen, and must
// then change nothing that is read.
func TestRandomDamageIsDetectedRecycled(t *testing.T) { randomDamage(t, true) }

func randomDamage(t *testing.T, recycled bool) {
	trials := 10_000
	if testing.Short() || raceEnabled {
		trials = 1_000
	}
	ref := newMemFS(t)
	opts := Options{FS: ref, SegmentSize: 16 << 10, MaxBatch: 2 << 10}
	from := uint64(1)
	if recycled {
		from = ageLog(t, opts)
	}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(7))
	for range 120 {
		appendN(t, l, 1+rng.Intn(12))
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	total := l.DurableSeq()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files := snapshotFiles(t, ref, testDir)
	var names []string
	for n := range files {
		if _, ok := parseSegmentName(n); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if recycled {
		for _, n := range names {
			if !isRecycled(t, n, files[n]) {
				t.Fatalf("segment %s is not recycled", n)
			}
		}
	}
	if len(names) < 3 {
		t.Fatalf("only %d segments", len(names))
	}
	last := names[len(names)-1]
	lastRecs := spans(t, last, files[last])
	// Damage from here on in the last segment may be a torn last write.
	tornFrom := lastRecs[len(lastRecs)-1].start
	lastBatch := lastRecs[len(lastRecs)-1].batch
	for _, r := range lastRecs {
		if r.batch == lastBatch {
			tornFrom = r.start
			break
		}
	}
	// Ends of valid data, so that most damage lands on records.
	dataEnd := map[string]int64{}
	for _, n := range names {
		s := spans(t, n, files[n])
		dataEnd[n] = s[len(s)-1].end
	}

	var corrupt, torn, unseenLast int
	for trial := range trials {
		name := names[rng.Intn(len(names))]
		orig := files[name]
		b := append([]byte(nil), orig...)
		limit := min(int64(len(b)), dataEnd[name]+512)
		pos := rng.Int63n(limit)
		what := ""
		if rng.Intn(2) == 0 {
			bit := rng.Intn(8)
			b[pos] ^= 1 << bit
			what = fmt.Sprintf("bit %d of byte %d", bit, pos)
		} else {
			n := 1 + rng.Int63n(32)
			end := min(pos+n, int64(len(b)))
			rng.Read(b[pos:end])
			what = fmt.Sprintf("bytes %d..%d", pos, end)
		}
		first := int64(-1) // first byte actually changed
		for i := range b {
			if b[i] != orig[i] {
				first = int64(i)
				break
			}
		}
		if first < 0 {
			continue
		}
		what = fmt.Sprintf("trial %d: %s of %s", trial, what, name)
		damaged := map[string][]byte{}
		for n, v := range files {
			damaged[n] = v
		}
		damaged[name] = b
		m := memFSWith(t, testDir, damaged)
		o := opts
		o.FS = m
		verr := Verify(testDir, o)
		switch {
		case verr == nil && recycled && first >= dataEnd[name]:
			// Leftovers after the data: nothing read may change.
			if got, err := readAll(m, testDir, from); err != nil || got != total {
				t.Fatalf("%s: undetected damage after the data changed what is read: to %d, %v", what, got, err)
			}
			continue
		case verr == nil && recycled && name == last && first >= lastRecs[len(lastRecs)-1].start:
			// The last record's header destroyed: in a recycled file it
			// cannot be told from a leftover of an earlier life, and the
			// log ends before it (see doc.go). Nothing else may change.
			if got, err := readAll(m, testDir, from); err != nil || got != total-1 {
				t.Fatalf("%s: damage to the last record read to %d, %v; want %d", what, got, err, total-1)
			}
			unseenLast++
			continue
		case verr == nil:
			t.Fatalf("%s: not detected", what)
		case errors.Is(verr, ErrCorrupt):
			corrupt++
		case errors.Is(verr, ErrTornTail):
			torn++
			if name != last || first < tornFrom {
				t.Fatalf("%s: damage before the last batch taken for a torn tail: %v", what, verr)
			}
		default:
			t.Fatalf("%s: Verify: %v", what, verr)
		}
		// A reader returns only records identical to the ones written
		// (readAll compares each with its reference), then stops.
		got, rerr := readAll(m, testDir, from)
		if rerr != nil && !isCorrupt(rerr) {
			t.Fatalf("%s: reader: %v", what, rerr)
		}
		if isCorrupt(verr) && rerr == nil {
			t.Fatalf("%s: Verify found corruption but a reader read to %d without error", what, got)
		}
		if trial%4 != 0 {
			continue
		}
		// Open: corruption it can see (headers, the last segment) fails it
		// and changes nothing; otherwise the reader of the opened log must
		// still report it.
		lg, oerr := Open(testDir, o)
		if oerr != nil {
			if !isCorrupt(oerr) || !isCorrupt(verr) {
				t.Fatalf("%s: Open: %v (Verify: %v)", what, oerr, verr)
			}
			after := snapshotFiles(t, m, testDir)
			if len(after) != len(damaged) {
				t.Fatalf("%s: failed Open changed the directory", what)
			}
			for n, v := range damaged {
				if string(after[n]) != string(v) {
					t.Fatalf("%s: failed Open changed %s", what, n)
				}
			}
			continue
		}
		if isCorrupt(verr) {
			r, err := lg.NewReader(0)
			if err != nil {
				t.Fatal(err)
			}
			for {
				_, err = r.Next()
				if err != nil {
					break
				}
			}
			if !isCorrupt(err) {
				t.Fatalf("%s: opened log read without reporting corruption: %v", what, err)
			}
		} else if lg.DurableSeq() < lastBatch-1 || lg.DurableSeq() > total {
			t.Fatalf("%s: torn tail recovery to %d, last batch starts at %d", what, lg.DurableSeq(), lastBatch)
		}
		lg.Close()
	}
	t.Logf("%d trials: %d corruption, %d torn tail, %d last record ended the log unreported", trials, corrupt, torn, unseenLast)
	if corrupt == 0 || torn == 0 {
		t.Fatalf("trials did not exercise both outcomes: %d corrupt, %d torn", corrupt, torn)
	}
}
