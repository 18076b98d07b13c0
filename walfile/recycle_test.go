package walfile

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// TestRecyclePool: segments dropped by TruncateBefore are reused for new
// segments, the pool stays within its bound, every record is read back,
// and the pool survives a reopen. With RecycleSegments negative nothing is
// kept.
func TestRecyclePool(t *testing.T) {
	for _, keep := range []int{-1, 2} {
		m := newMemFS(t)
		opts := Options{FS: m, SegmentSize: 16 << 10, MaxBatch: 2 << 10, RecycleSegments: keep}
		l, err := Open(testDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			appendSync(t, l, 25)
			// Keep about two segments behind the writer.
			if d := l.DurableSeq(); d > 600 {
				if err := l.TruncateBefore(d - 600); err != nil {
					t.Fatal(err)
				}
			}
			pool, err := listRecycled(m, testDir)
			if err != nil {
				t.Fatal(err)
			}
			if len(pool) > max(keep, 0) {
				t.Fatalf("keep %d: %d files in the pool", keep, len(pool))
			}
		}
		st := l.Stats()
		first, err := l.FirstSeq()
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if keep < 0 && st.SegmentsRecycled != 0 {
			t.Fatalf("no pool, yet %d segments recycled", st.SegmentsRecycled)
		}
		if keep > 0 && st.SegmentsRecycled < 10 {
			t.Fatalf("only %d segments recycled", st.SegmentsRecycled)
		}
		if last, err := readAll(m, testDir, first); err != nil || last != 5000 {
			t.Fatalf("keep %d: read back to %d, %v", keep, last, err)
		}
		if err := Verify(testDir, Options{FS: m}); err != nil {
			t.Fatal(err)
		}
		// The pool names are durable and a reopened log uses them.
		before, _ := listRecycled(m, testDir)
		c := m.Crash(vfs.CrashOptions{})
		pool, _ := listRecycled(c, testDir)
		if len(pool) != len(before) || len(pool) > max(keep, 0) || (keep > 0 && len(pool) == 0) {
			t.Fatalf("keep %d: %d pool files after a crash, %d before", keep, len(pool), len(before))
		}
		opts.FS = c
		l, err = Open(testDir, opts)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 2000)
		st = l.Stats()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if keep > 0 && st.SegmentsRecycled == 0 {
			t.Fatal("the reopened log did not reuse its pool")
		}
		if last, err := readAll(c, testDir, first); err != nil || last != 7000 {
			t.Fatalf("keep %d: after reopen read back to %d, %v", keep, last, err)
		}
	}
}

// TestStaleNextSequenceAfterEnd: a recycled segment holds, right after the
// end of its new data, a record of its earlier life that is valid in every
// way but its epoch and carries exactly the next sequence. It is not part
// of the log: not read, not reported as damage, and overwritten by the next
// append. The control shows the setup is meaningful: the same record sealed
// with the new life's epoch is read as the next record. A version 1 file
// reused from the pool is the same case with unseeded records.
func TestStaleNextSequenceAfterEnd(t *testing.T) {
	const written = 3000
	// The earlier life: records 1..3000 in segment 1 of another log.
	m := newMemFS(t)
	opts := Options{FS: m, SegmentSize: 256 << 10, MaxBatch: 4 << 10}
	other := Options{FS: m, SegmentSize: opts.SegmentSize, MaxBatch: opts.MaxBatch}
	l, err := Open("/data/other", other)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, written)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	old, _ := m.Bytes("/data/other/" + segmentName(1))
	// The new life ends where a record of the earlier life ended on a block
	// boundary: the writer zero-pads the last block it writes, so only
	// there can a stale record follow the end directly.
	kept := uint64(0)
	for _, r := range spans(t, segmentName(1), old) {
		if r.end%4096 == 0 && r.seq > 50 && r.seq < written {
			kept = r.seq
			break
		}
	}
	if kept == 0 {
		t.Fatal("no record of the earlier life ends on a block boundary")
	}

	// The same earlier life written in format version 1.
	oldV1 := append([]byte(nil), old...)
	encodeV1Header(oldV1[:4096], 4096, 1)
	{
		it := newSegIter(old, segHeader{blockSize: 4096, firstSeq: 1, epoch: freshEpoch})
		for {
			var d decoded
			off, sp, end := it.next(&d)
			if end || sp != nil {
				break
			}
			encodeRecord(oldV1[off:], d.Seq, d.batch, d.Type, append([]byte(nil), d.Payload...), segKey{})
		}
	}
	for _, variant := range []string{"v2", "v1", "control"} {
		control := variant == "control"
		pool, oldKey := old, keyFor(freshEpoch)
		if variant == "v1" {
			pool, oldKey = oldV1, segKey{}
		}
		c := memFSWith(t, testDir, map[string][]byte{segmentName(1) + recycleExt: pool})
		o := opts
		o.FS = c
		// The new life: the same sequences, the same payloads, so the same
		// layout; only records 1..100.
		l, err := Open(testDir, o)
		if err != nil {
			t.Fatal(err)
		}
		for n := uint64(0); n < kept; n += 10 {
			appendN(t, l, int(min(10, kept-n)))
			if err := l.Sync(); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		seg, _ := c.Bytes(testDir + "/" + segmentName(1))
		h, err := checkSegHeader(seg, segment{name: segmentName(1), first: 1})
		if err != nil {
			t.Fatal(err)
		}
		recs := spans(t, segmentName(1), seg)
		if !h.recycled() || uint64(len(recs)) != kept {
			t.Fatalf("%s: segment in epoch %d holds %d records, want a recycled one with %d", variant, h.epoch, len(recs), kept)
		}
		end := recs[len(recs)-1].end
		stale, err := decodeRecord(seg[end:], oldKey)
		if err != nil || stale.Seq != kept+1 {
			t.Fatalf("%s: no valid record %d of the earlier life right after the end: %+v %v", variant, kept+1, stale, err)
		}
		if control {
			b := append([]byte(nil), seg...)
			encodeRecord(b[end:], stale.Seq, stale.batch, stale.Type, append([]byte(nil), stale.Payload...), h.key())
			cc := memFSWith(t, testDir, map[string][]byte{segmentName(1): b})
			if last, err := readAll(cc, testDir, 1); err != nil || last <= kept {
				t.Fatalf("control: the stale record sealed in the new epoch is not read (to %d, %v): the test cannot see stale records", last, err)
			}
			continue
		}
		if err := Verify(testDir, o); err != nil {
			t.Fatalf("%s: Verify: %v", variant, err)
		}
		if last, err := readAll(c, testDir, 1); err != nil || last != kept {
			t.Fatalf("read to %d, %v; want %d", last, err, kept)
		}
		l, err = Open(testDir, o)
		if err != nil {
			t.Fatal(err)
		}
		if l.NextSeq() != kept+1 || l.Recovery().TornTail != nil {
			t.Fatalf("reopened at %d with %+v, want %d and no torn tail", l.NextSeq(), l.Recovery().TornTail, kept+1)
		}
		appendN(t, l, 5)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if last, err := readAll(c, testDir, 1); err != nil || last != kept+5 {
			t.Fatalf("after appending: read to %d, %v; want %d", last, err, kept+5)
		}
	}
}

// encodeV1Header writes a version 1 segment header into block.
func encodeV1Header(block []byte, blockSize int, firstSeq uint64) {
	clear(block)
	copy(block, segmentMagic)
	binary.LittleEndian.PutUint32(block[8:], formatV1)
	binary.LittleEndian.PutUint32(block[12:], uint32(blockSize))
	binary.LittleEndian.PutUint64(block[20:], firstSeq)
	binary.LittleEndian.PutUint32(block[28:], crc32.Checksum(block[:28], castagnoli))
}

// TestVersion1LogStillOpens: a log written in format version 1 (no epoch,
// unseeded checksums) is read, its torn tail cut, appended to in its last
// segment, and continued in version 2 segments.
func TestVersion1LogStillOpens(t *testing.T) {
	const segSize = 16 << 10
	seg := make([]byte, segSize)
	encodeV1Header(seg[:4096], 4096, 1)
	var buf [64]byte
	off := 4096
	for seq := uint64(1); seq <= 50; seq++ {
		off += encodeRecord(seg[off:], seq, 0, typeFor(seq), payloadFor(seq, buf[:]), segKey{})
	}
	// A torn last record.
	torn := encodeRecord(seg[off:], 51, 0, typeFor(51), payloadFor(51, buf[:]), segKey{})
	seg[off+torn-1] ^= 1
	m := memFSWith(t, testDir, map[string][]byte{segmentName(1): seg})
	if err := Verify(testDir, Options{FS: m}); !errors.Is(err, ErrTornTail) {
		t.Fatalf("Verify: %v, want a torn tail", err)
	}
	opts := Options{FS: m, SegmentSize: segSize, MaxBatch: 2 << 10}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.NextSeq() != 51 || l.Recovery().TornTail == nil {
		t.Fatalf("opened at %d, torn tail %+v", l.NextSeq(), l.Recovery().TornTail)
	}
	appendN(t, l, 1000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(testDir, Options{FS: m})
	if err != nil || r.Damage != nil || r.LastSeq != 1050 || len(r.Segments) < 3 {
		t.Fatalf("%+v %v", r, err)
	}
	if r.Segments[0].Epoch != 0 || r.Segments[1].Epoch != freshEpoch {
		t.Fatalf("epochs %d, %d; want version 1 then a fresh version 2 segment", r.Segments[0].Epoch, r.Segments[1].Epoch)
	}
	if last, err := readAll(m, testDir, 1); err != nil || last != 1050 {
		t.Fatalf("read to %d, %v", last, err)
	}
}

// TestRecyclePoolRejectsUnusableFiles: a pooled file with a header that does
// not decode (its next epoch cannot be known) or of another size (it may not
// be fully written) is removed, never reused; a good one is reused; and
// files beyond the pool's bound are removed on Open.
func TestRecyclePoolRejectsUnusableFiles(t *testing.T) {
	const segSize = 16 << 10
	good := make([]byte, segSize)
	for i := range good {
		good[i] = byte(i*13 + 5)
	}
	encodeSegHeader(good[:4096], 4096, 7, freshEpoch)
	badHeader := append([]byte(nil), good...)
	badHeader[30] ^= 1
	short := append([]byte(nil), good[:segSize/2]...)
	pool := func(seq uint64) string { return segmentName(seq) + recycleExt }
	files := map[string][]byte{pool(1): badHeader, pool(2): short, pool(3): good}
	for seq := uint64(10); seq < 14; seq++ {
		files[pool(seq)] = good // beyond a bound of 3 once sorted
	}
	m := memFSWith(t, testDir, files)
	l, err := Open(testDir, Options{FS: m, SegmentSize: segSize, MaxBatch: 2 << 10, RecycleSegments: 3})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		appendSync(t, l, 300)
	}
	st := l.Stats()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if st.SegmentsRecycled == 0 {
		t.Fatal("the good pooled file was not reused")
	}
	for _, n := range []string{pool(1), pool(2), pool(3), pool(10), pool(11), pool(12), pool(13)} {
		if _, _, err := m.Stat(testDir + "/" + n); err == nil {
			t.Errorf("%s is still in the directory", n)
		}
	}
	if err := Verify(testDir, Options{FS: m}); err != nil {
		t.Fatal(err)
	}
	if last, err := readAll(m, testDir, 1); err != nil || last != 1500 {
		t.Fatalf("read to %d, %v", last, err)
	}
}
