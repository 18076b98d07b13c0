package mmapsnap

import (
	"hash/crc32"
	"testing"

	"github.com/zeebo/xxh3"
)

// BenchmarkBlockHash compares the candidates for a block's raw checksum on
// one default-size block, which stays in L2 as it does right after
// decompression: CRC32C (hash/crc32, SSE4.2) against XXH3-64
// (github.com/zeebo/xxh3, AVX2).
func BenchmarkBlockHash(b *testing.B) {
	buf := make([]byte, DefaultBlockSize)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	tab := crc32.MakeTable(crc32.Castagnoli)
	b.Run("crc32c", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			crc32.Checksum(buf, tab)
		}
	})
	b.Run("xxh3", func(b *testing.B) {
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		for b.Loop() {
			xxh3.Hash(buf)
		}
	})
}
