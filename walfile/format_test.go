package walfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

func TestDecodeRecord(t *testing.T) {
	valid := make([]byte, 64)
	n := encodeRecord(valid, 9, 2, 5, []byte("hello"), testKey)
	valid = valid[:n]
	mut := func(f func(b []byte)) []byte {
		b := append([]byte(nil), valid...)
		f(b)
		return b
	}
	// reseal recomputes the checksum, so only the field under test is wrong.
	reseal := func(b []byte) { binary.LittleEndian.PutUint32(b, recordCRC(b, testKey)) }
	// under re-encodes the record for another life of the segment.
	under := func(k segKey) []byte {
		b := make([]byte, n)
		encodeRecord(b, 9, 2, 5, []byte("hello"), k)
		return b
	}
	// A version 1 record: reserved bytes zero, unseeded checksum.
	v1 := mut(func(b []byte) {
		b[21], b[22], b[23] = 0, 0, 0
		binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli))
	})
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"valid", valid, nil},
		{"valid with zeros after", append(append([]byte(nil), valid...), make([]byte, 40)...), nil},
		{"empty", nil, errEnd},
		{"zero header", make([]byte, 100), errEnd},
		{"short zero", make([]byte, 10), errEnd},
		{"short garbage", []byte{1, 2, 3}, errTruncated},
		{"truncated payload", valid[:RecordHeaderLen+3], errLength},
		{"truncated padding", valid[:n-1], errTruncated},
		{"flipped payload bit", mut(func(b []byte) { b[RecordHeaderLen] ^= 1 }), errChecksum},
		{"flipped padding bit", mut(func(b []byte) { b[n-1] ^= 0x80 }), errChecksum},
		{"flipped checksum", mut(func(b []byte) { b[0] ^= 1 }), errChecksum},
		{"flipped sequence", mut(func(b []byte) { b[8] ^= 1 }), errChecksum},
		{"huge length", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 1<<31) }), errLength},
		{"tag byte", mut(func(b []byte) { b[22] ^= 1; reseal(b) }), errTag},
		{"record of the next life", under(keyFor(nextEpoch(freshEpoch))), errTag},
		{"version 1 record", v1, errTag},
		// Epochs 2^24 apart share a tag: the seeded checksum tells them apart.
		{"record of a life with the same tag", under(keyFor(freshEpoch + 1<<24)), errChecksum},
		{"sequence 0", mut(func(b []byte) { binary.LittleEndian.PutUint64(b[8:], 0); reseal(b) }), errSeqZero},
		{"batch beyond sequence", mut(func(b []byte) { binary.LittleEndian.PutUint32(b[16:], 9); reseal(b) }), errBatch},
	}
	for _, tt := range tests {
		d, err := decodeRecord(tt.in, testKey)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: error %v, want %v", tt.name, err, tt.want)
			continue
		}
		if tt.want == nil && (d.Seq != 9 || d.batch != 2 || d.Type != 5 || string(d.Payload) != "hello" || d.size != n) {
			t.Errorf("%s: decoded %+v", tt.name, d)
		}
	}
}

func TestSegmentHeader(t *testing.T) {
	b := make([]byte, 4096)
	encodeSegHeader(b, 4096, 77, 5)
	seg := segment{name: segmentName(77), first: 77}
	if h, err := checkSegHeader(b, seg); err != nil || h.firstSeq != 77 || h.blockSize != 4096 || h.epoch != 5 {
		t.Fatalf("%+v %v", h, err)
	}
	for i := range 4096 {
		c := append([]byte(nil), b...)
		c[i] ^= 4
		if _, err := checkSegHeader(c, seg); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at header byte %d not detected: %v", i, err)
		}
	}
	if _, err := checkSegHeader(b, segment{name: segmentName(78), first: 78}); !errors.Is(err, ErrCorrupt) {
		t.Fatal("header/name mismatch not detected")
	}
	if _, ok := parseSegmentName("00000000000000000077.wal"); !ok {
		t.Fatal("segment name not parsed")
	}
	for _, bad := range []string{"0000000000000000077.wal", "00000000000000000000.wal", "99999999999999999999.wal", "0000000000000000007x.wal", "00000000000000000077.wal.broken"} {
		if _, ok := parseSegmentName(bad); ok {
			t.Errorf("%q parsed as a segment name", bad)
		}
	}
}

// TestSealBatch: a batch encoded by appenders (encodeBody) and sealed by the
// writer is byte for byte what encodeRecord writes with batch fields saying
// how far the log was durable; and sealBatch refuses anything that is not
// whole records of sequences after the durable one. Batches of mixed and of
// equal record sizes, of every length up to 8 records and of 40, cover both
// ways sealBatch checksums (three equal records at once, or one by one).
func TestSealBatch(t *testing.T) {
	var pbuf [64]byte
	const durable = 99
	for _, mixed := range []bool{true, false} {
		for _, count := range []uint64{1, 2, 3, 4, 5, 6, 7, 8, 40} {
			var buf, want [4096]byte
			n, m := 0, 0
			for seq := uint64(100); seq < 100+count; seq++ {
				p := pbuf[:]
				if mixed {
					p = payloadFor(seq, pbuf[:])
				}
				n += encodeBody(buf[n:], seq, typeFor(seq), p)
				m += encodeRecord(want[m:], seq, uint32(seq-durable-1), typeFor(seq), p, testKey)
			}
			if n != m {
				t.Fatalf("encodeBody wrote %d bytes, encodeRecord %d", n, m)
			}
			if err := sealBatch(buf[:n], durable, testKey); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], want[:m]) {
				t.Fatalf("mixed %v, %d records: sealed batch differs from encodeRecord's", mixed, count)
			}
		}
	}
	var buf [4096]byte
	n := 0
	for seq := uint64(100); seq < 140; seq++ {
		n += encodeBody(buf[n:], seq, typeFor(seq), payloadFor(seq, pbuf[:]))
	}
	if err := sealBatch(buf[:n], durable, testKey); err != nil {
		t.Fatal(err)
	}
	for off := 0; off < n; {
		d, err := decodeRecord(buf[off:n], testKey)
		if err != nil {
			t.Fatalf("record at %d: %v", off, err)
		}
		if d.batchStart() != durable+1 {
			t.Fatalf("record %d says %d was durable, want %d", d.Seq, d.batchStart()-1, durable)
		}
		off += d.size
	}
	if err := sealBatch(buf[:n-3], durable, testKey); err == nil {
		t.Error("sealBatch took a batch cut inside a record")
	}
	if err := sealBatch(buf[:n], 100, testKey); err == nil {
		t.Error("sealBatch took a record at or below the durable sequence")
	}
}
