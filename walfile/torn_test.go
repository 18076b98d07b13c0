package walfile

import (
	"bytes"
	"errors"
	"math/rand"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// recordSpan is where a record sits in a segment.
type recordSpan struct {
	seq        uint64
	start, end int64
	dataEnd    int64  // end of the payload, before the zero padding
	batch      uint64 // first sequence of its batch
}

// spans decodes the records of one segment's bytes.
func spans(t testing.TB, name string, b []byte) []recordSpan {
	t.Helper()
	first, _ := parseSegmentName(name)
	h, err := checkSegHeader(b, segment{name: name, first: first})
	if err != nil {
		t.Fatal(err)
	}
	it := newSegIter(b, h)
	var out []recordSpan
	for {
		var d decoded
		off, sp, end := it.next(&d)
		if end {
			return out
		}
		if sp != nil {
			t.Fatalf("reference segment %s damaged at %d: %s", name, sp.off, sp.reason)
		}
		out = append(out, recordSpan{seq: d.Seq, start: off, end: off + int64(d.size), batch: d.batchStart(),
			dataEnd: off + RecordHeaderLen + int64(len(d.Payload))})
	}
}

// buildBatches writes a log whose batches hold 1, 2, 3, 1, 2, 3 … records
// (each batch synced before the next is appended), and returns its files.
func buildBatches(t testing.TB, opts Options, m *vfs.MemFS, records int) map[string][]byte {
	t.Helper()
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for k := 0; records > 0; k++ {
		n := min(k%3+1, records)
		appendSync(t, l, n)
		records -= n
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return snapshotFiles(t, m, testDir)
}

func lastSegment(files map[string][]byte) string {
	last := ""
	for n := range files {
		if _, ok := parseSegmentName(n); ok && n > last {
			last = n
		}
	}
	return last
}

// TestTornTailEveryOffset cuts the last segment at every byte inside its last
// 8 records (which span at least two batches) in three ways: zeros from the
// cut on, the file truncated at the cut, and garbage from the cut to the end
// of the last sector written. Recovery must stop exactly at the last whole
// record, keep a copy of what it cut, and continue the sequence.
func TestTornTailEveryOffset(t *testing.T) { tornTailEveryOffset(t, false) }

// TestTornTailEveryOffsetRecycled is the same over a recycled last segment,
// whose bytes after the data are records of an earlier life of the file, with
// a fourth way: the bytes from the cut on are those of the earlier life (the
// writes never reached the disk).
func TestTornTailEveryOffsetRecycled(t *testing.T) { tornTailEveryOffset(t, true) }

func tornTailEveryOffset(t *testing.T, recycled bool) {
	ref := newMemFS(t)
	opts := Options{FS: ref, SegmentSize: 64 << 10, MaxBatch: 4 << 10}
	from := uint64(1)
	var aged []byte // the last segment before the records under test
	modes := []string{"zero", "truncate", "garble"}
	if recycled {
		from = ageLog(t, opts)
		aged = snapshotFiles(t, ref, testDir)[lastSegment(snapshotFiles(t, ref, testDir))]
		modes = append(modes, "stale")
	}
	files := buildBatches(t, opts, ref, 40)
	segName := lastSegment(files)
	seg := files[segName]
	if recycled != isRecycled(t, segName, seg) {
		t.Fatalf("last segment recycled: %v, want %v", !recycled, recycled)
	}
	recs := spans(t, segName, seg)
	tail := recs[len(recs)-8:]
	if tail[0].batch == tail[len(tail)-1].batch {
		t.Fatal("the last 8 records are one batch; the test needs at least two")
	}
	rng := rand.New(rand.NewSource(1))
	endAll := tail[len(tail)-1].end
	sectorEnd := (endAll + vfs.SectorSize - 1) / vfs.SectorSize * vfs.SectorSize
	reported := 0
	for c := tail[0].start; c <= endAll; c++ {
		for _, mode := range modes {
			b := append([]byte(nil), seg...)
			switch mode {
			case "zero":
				clear(b[c:])
			case "truncate":
				b = b[:c]
			case "garble":
				if c == sectorEnd {
					continue
				}
				rng.Read(b[c:sectorEnd])
			case "stale":
				copy(b[c:], aged[c:])
			}
			// The last whole record: its bytes are unchanged (zeroing a
			// zero byte changes nothing).
			want := tail[0].seq - 1
			for _, r := range tail {
				if int64(len(b)) >= r.end && bytes.Equal(b[r.start:r.end], seg[r.start:r.end]) {
					want = r.seq
				} else {
					break
				}
			}
			cut := map[string][]byte{}
			for n, v := range files {
				cut[n] = v
			}
			cut[segName] = b
			m := memFSWith(t, testDir, cut)
			o := opts
			o.FS = m
			if err := Verify(testDir, o); err != nil && !errors.Is(err, ErrTornTail) {
				t.Fatalf("%s at %d: Verify: %v, want nil or ErrTornTail", mode, c, err)
			}
			l, err := Open(testDir, o)
			if err != nil {
				t.Fatalf("%s at %d: Open: %v", mode, c, err)
			}
			if got := l.NextSeq(); got != want+1 {
				t.Fatalf("%s at %d: recovery continues at %d, want %d", mode, c, got, want+1)
			}
			if got := l.DurableSeq(); got != want {
				t.Fatalf("%s at %d: DurableSeq %d, want %d", mode, c, got, want)
			}
			if rec := l.Recovery(); rec.TornTail != nil {
				reported++
				kept, ok := m.Bytes(testDir + "/" + rec.Broken)
				if !ok || int64(len(kept)) != rec.TornTail.Bytes || rec.TornTail.Offset != tail[0].start+func() int64 {
					for _, r := range tail {
						if r.seq == want+1 {
							return r.start - tail[0].start
						}
					}
					return endAll - tail[0].start
				}() {
					t.Fatalf("%s at %d: torn tail %+v, copy %q of %d bytes", mode, c, rec.TornTail, rec.Broken, len(kept))
				}
			} else if mode == "garble" && !recycled {
				// In a recycled segment garbage in a record header may
				// look like a leftover of an earlier life: the end of
				// the data, with nothing to cut.
				t.Fatalf("garble at %d: no torn tail reported", c)
			}
			// The records appended next have the same sizes as the ones
			// cut (payloads depend on the sequence only), so they land
			// exactly where those were: any leftover the recovery did not
			// erase would be read back after them.
			appendN(t, l, 2)
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if err := Verify(testDir, o); err != nil {
				t.Fatalf("%s at %d: after recovery and append: %v", mode, c, err)
			}
			last, err := readAll(m, testDir, from)
			if err != nil || last != want+2 {
				t.Fatalf("%s at %d: read back to %d, %v; want %d", mode, c, last, err, want+2)
			}
		}
	}
	if reported == 0 {
		t.Fatal("no cut was reported as a torn tail")
	}
}

// TestTornLastBatchAfterHole keeps the later sectors of a torn last batch and
// loses an earlier one: valid records of the same batch after the hole are
// cut with it, never replayed, and never read back after the records
// appended next.
func TestTornLastBatchAfterHole(t *testing.T) { tornLastBatchAfterHole(t, false) }

// TestTornLastBatchAfterHoleRecycled is the same in a recycled segment,
// where the lost sector keeps the bytes of the file's earlier life.
func TestTornLastBatchAfterHoleRecycled(t *testing.T) { tornLastBatchAfterHole(t, true) }

func tornLastBatchAfterHole(t *testing.T, recycled bool) {
	ref := newMemFS(t)
	opts := Options{FS: ref, SegmentSize: 64 << 10, MaxBatch: 64 << 10}
	from := uint64(1)
	var aged []byte
	if recycled {
		from = ageLog(t, opts)
		before := snapshotFiles(t, ref, testDir)
		aged = before[lastSegment(before)]
	}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSync(t, l, 10)
	batchStart := l.NextSeq()
	// One large batch of 200 records: it spans several sectors.
	l.mu.Lock() // hold the writer off so all 200 land in one batch
	var buf [64]byte
	f := l.fill
	for range 200 {
		seq := l.next
		if f.first == 0 {
			f.first = seq
		}
		f.n += encodeBody(f.buf[f.n:], seq, typeFor(seq), payloadFor(seq, buf[:]))
		f.last = seq
		l.next++
	}
	l.mu.Unlock()
	l.work.Signal()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	l.Close()
	files := snapshotFiles(t, ref, testDir)
	segName := lastSegment(files)
	if recycled != isRecycled(t, segName, files[segName]) {
		t.Fatalf("last segment recycled: %v, want %v", !recycled, recycled)
	}
	recs := spans(t, segName, files[segName])
	if recs[len(recs)-1].batch != batchStart || recs[len(recs)-150].batch != batchStart {
		t.Fatalf("expected one batch from %d: %+v", batchStart, recs[len(recs)-1])
	}
	// Lose the sector holding the 50th record of the batch only.
	b := append([]byte(nil), files[segName]...)
	var r50 recordSpan
	for _, r := range recs {
		if r.seq == batchStart+49 {
			r50 = r
		}
	}
	hole := r50.start / vfs.SectorSize * vfs.SectorSize
	if recycled {
		copy(b[hole:hole+vfs.SectorSize], aged[hole:])
	} else {
		clear(b[hole : hole+vfs.SectorSize])
	}
	files[segName] = b
	m := memFSWith(t, testDir, files)
	o := opts
	o.FS = m
	l, err = Open(testDir, o)
	if err != nil {
		t.Fatal(err)
	}
	want := uint64(0)
	for _, r := range recs {
		if r.end <= hole {
			want = r.seq
		}
	}
	if got := l.DurableSeq(); got != want {
		t.Fatalf("recovered to %d, want %d (records after the hole belong to the torn batch)", got, want)
	}
	if l.Recovery().TornTail == nil {
		t.Fatal("valid records after the hole were cut without reporting a torn tail")
	}
	// The next records have the sizes of the cut ones and land where they
	// were: had the cut left a record after the hole, the log would read on
	// into it.
	appendN(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := Verify(testDir, o); err != nil {
		t.Fatalf("after recovery and append: %v", err)
	}
	if last, err := readAll(m, testDir, from); err != nil || last != want+2 {
		t.Fatalf("read back to %d, %v; want %d", last, err, want+2)
	}
}
