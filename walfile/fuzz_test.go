package walfile

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the record decoder: it must never
// panic, and whatever it accepts must re-encode to exactly the same bytes
// (so no two byte strings decode to the same record, and a record is only
// accepted with every byte accounted for).
func FuzzDecode(f *testing.F) {
	buf := make([]byte, 256)
	for _, p := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte{0xab}, 40), make([]byte, 64)} {
		n := encodeRecord(buf, 42, 3, 7, p, testKey)
		f.Add(append([]byte(nil), buf[:n]...))
		f.Add(append([]byte(nil), buf[:n-1]...))
	}
	f.Add(make([]byte, RecordHeaderLen))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeRecord(b, testKey)
		if err != nil {
			return
		}
		if d.size > len(b) || d.size%recordAlign != 0 {
			t.Fatalf("decoded size %d of %d bytes", d.size, len(b))
		}
		out := make([]byte, d.size)
		encodeRecord(out, d.Seq, d.batch, d.Type, d.Payload, testKey)
		if !bytes.Equal(out, b[:d.size]) {
			t.Fatalf("decoded %+v re-encodes to\n%x\nnot\n%x", d, out, b[:d.size])
		}
	})
}

// FuzzScanSegment treats arbitrary bytes as a segment's records and walks
// them as Open and the reader do, classifying any bad spot: it must never
// panic and never return records out of sequence.
func FuzzScanSegment(f *testing.F) {
	buf := make([]byte, 512)
	n := 0
	for seq := uint64(1); seq <= 5; seq++ {
		n += encodeRecord(buf[n:], seq, uint32(seq-1), 1, bytes.Repeat([]byte{byte(seq)}, int(seq*5)), testKey)
	}
	f.Add(append([]byte(nil), buf[:n]...))
	f.Add(append([]byte(nil), buf[:n+40]...))
	g := append([]byte(nil), buf[:n]...)
	g[30] ^= 1
	f.Add(g)
	// Records of the recycled life (epoch 3) followed by leftovers of an
	// earlier one, and the same with a record of this life among them.
	r := make([]byte, 1024)
	m := 0
	for seq := uint64(1); seq <= 3; seq++ {
		m += encodeRecord(r[m:], seq, uint32(seq-1), 1, bytes.Repeat([]byte{byte(seq)}, int(seq*5)), keyFor(freshEpoch+2))
	}
	for seq := uint64(7); seq <= 9; seq++ {
		m += encodeRecord(r[m:], seq, 0, 1, bytes.Repeat([]byte{byte(seq)}, int(seq*3)), keyFor(freshEpoch))
	}
	f.Add(append([]byte(nil), r[:m]...))
	m += encodeRecord(r[m:], 12, 0, 1, []byte("late"), keyFor(freshEpoch+2))
	f.Add(append([]byte(nil), r[:m]...))
	f.Fuzz(func(t *testing.T, body []byte) {
		// The segment in its first life (zeros expected after the data)
		// and recycled (leftovers of earlier lives after it).
		for _, epoch := range []uint64{freshEpoch, freshEpoch + 2} {
			seg := make([]byte, 4096+len(body))
			encodeSegHeader(seg[:4096], 4096, 1, epoch)
			copy(seg[4096:], body)
			h, err := decodeSegHeader(seg)
			if err != nil {
				t.Fatal(err)
			}
			if h.recycled() {
				// The prefix loader's walk and search: no panic, and
				// the walk never moves backwards or past the bytes.
				pos, expect := int64(4096), uint64(1)
				walkData(seg, &pos, &expect, h.key(), true)
				if pos < 4096 || pos > int64(len(seg)) {
					t.Fatalf("walk ended at %d of %d", pos, len(seg))
				}
				mayHoldOwn(body[:len(body)&^7], h.key(), false)
			}
			it := newSegIter(seg, h)
			want := uint64(1)
			for range len(body) {
				var d decoded
				_, sp, end := it.next(&d)
				if end {
					break
				}
				if sp != nil {
					classify(seg, sp, it.key)
					if sp.off < 4096 || sp.off > int64(len(seg)) || sp.dataEnd < sp.off || sp.dataEnd > int64(len(seg)) {
						t.Fatalf("bad spot %+v", sp)
					}
					break
				}
				if d.Seq != want {
					t.Fatalf("sequence %d, want %d", d.Seq, want)
				}
				want++
			}
		}
	})
}
