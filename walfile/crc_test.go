package walfile

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

// TestRecordCRC checks recordCRC against hash/crc32 over records of every
// size up to 1 KiB and a few large ones, under the zero key (version 1) and
// epoch keys, with the bytes at every alignment a buffer can give them.
func TestRecordCRC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 70<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	keys := []segKey{{}, keyFor(freshEpoch), keyFor(nextEpoch(freshEpoch)), keyFor(1<<40 + 7)}
	sizes := []int{}
	for n := recordAlign; n <= 1024; n += recordAlign {
		sizes = append(sizes, n)
	}
	sizes = append(sizes, 4096, 64<<10)
	for _, k := range keys {
		for _, n := range sizes {
			for _, at := range []int{0, 1, 4, 7, 8, 13} {
				rec := buf[at : at+n]
				want := crc32.Update(k.seed, castagnoli, rec[4:])
				if got := recordCRC(rec, k); got != want {
					t.Fatalf("key %+v, %d bytes at %d: recordCRC %#x, hash/crc32 %#x", k, n, at, got, want)
				}
			}
		}
	}
	// Lengths that are not whole words are not records; recordCRCFast
	// declines them and recordCRC falls back to hash/crc32.
	for _, n := range []int{4, 5, 12, 27, 89} {
		if _, ok := recordCRCFast(buf[:n], testKey); ok {
			t.Fatalf("recordCRCFast took %d bytes", n)
		}
		if got, want := recordCRC(buf[:n], testKey), crc32.Update(testKey.seed, castagnoli, buf[4:n]); got != want {
			t.Fatalf("%d bytes: recordCRC %#x, hash/crc32 %#x", n, got, want)
		}
	}
}

// BenchmarkRecordCRC is the checksum of one 64-byte-payload record (88
// bytes) by hash/crc32 and by recordCRC, walking a batch of them as the
// sealer does.
func BenchmarkRecordCRC(b *testing.B) {
	const size, records = 88, 12000
	buf := make([]byte, size*records)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	b.Run("hash-crc32", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		var s uint32
		for off := 0; b.Loop(); off += size {
			if off == len(buf) {
				off = 0
			}
			s += crc32.Update(testKey.seed, castagnoli, buf[off+4:off+size])
		}
		sinkCRC = s
	})
	b.Run("recordCRC", func(b *testing.B) {
		b.SetBytes(size)
		b.ReportAllocs()
		var s uint32
		for off := 0; b.Loop(); off += size {
			if off == len(buf) {
				off = 0
			}
			s += recordCRC(buf[off:off+size], testKey)
		}
		sinkCRC = s
	})
}

var sinkCRC uint32
