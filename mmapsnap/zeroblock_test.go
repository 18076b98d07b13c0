package mmapsnap

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/pierrec/lz4/v4"
)

// zeroSeeds are LZ4 blocks for lz4Zeros: zeros of several sizes as the
// library compresses them, and blocks that are not (or not only) zeros.
func zeroSeeds(t testing.TB) (blocks [][]byte, sizes []int) {
	var c lz4.Compressor
	add := func(raw []byte) {
		dst := make([]byte, lz4.CompressBlockBound(len(raw)))
		n, err := c.CompressBlock(raw, dst)
		if err != nil {
			t.Fatal(err)
		}
		blocks, sizes = append(blocks, dst[:n]), append(sizes, len(raw))
	}
	for _, n := range []int{1, 4, 13, 64, 4096, 65536, 262144, 262144 + 7} {
		add(make([]byte, n))
	}
	one := make([]byte, 65536)
	one[40000] = 1
	add(one)
	tail := make([]byte, 65536)
	tail[len(tail)-1] = 9
	add(tail)
	// Hand-made: literals only; a match of offset 1 after one zero.
	blocks, sizes = append(blocks, []byte{0x30, 0, 0, 0}), append(sizes, 3)
	blocks, sizes = append(blocks, []byte{0x1f, 0, 1, 0, 255, 10, 0x10, 0}), append(sizes, 1+15+4+255+10+1)
	return blocks, sizes
}

// checkZeros is the property lz4Zeros must have: when it says src decodes
// to n zeros, the decoder agrees.
func checkZeros(t *testing.T, src []byte, n int) bool {
	t.Helper()
	if !lz4Zeros(src, n) {
		return false
	}
	out := make([]byte, n)
	for i := range out {
		out[i] = 0xEE
	}
	got, err := lz4.UncompressBlock(src, out)
	if err != nil || got != n || !bytes.Equal(out, make([]byte, n)) {
		t.Fatalf("lz4Zeros(%x, %d) = true, but the decoder gives %d bytes, %v", src, n, got, err)
	}
	return true
}

func TestLZ4Zeros(t *testing.T) {
	blocks, sizes := zeroSeeds(t)
	for i, b := range blocks {
		want := i < 8 || i >= 10 // the library's zeros and the hand-made ones
		if got := checkZeros(t, b, sizes[i]); got != want {
			t.Errorf("block %d (%d bytes of output): lz4Zeros = %v, want %v", i, sizes[i], got, want)
		}
		if sizes[i] > 1 && lz4Zeros(b, sizes[i]-1) || lz4Zeros(b, sizes[i]+1) {
			t.Errorf("block %d: lz4Zeros true for the wrong length", i)
		}
		for cut := 0; cut < len(b); cut++ {
			checkZeros(t, b[:cut], sizes[i])
		}
	}
}

// FuzzLZ4Zeros: lz4Zeros never says zeros when the decoder gives anything
// else, and never panics.
func FuzzLZ4Zeros(f *testing.F) {
	blocks, sizes := zeroSeeds(f)
	for i, b := range blocks {
		f.Add(b, uint32(sizes[i]))
	}
	f.Fuzz(func(t *testing.T, src []byte, n uint32) {
		checkZeros(t, src, int(n%(1<<20)))
	})
}

// TestZeroBlockChecksums: with ZeroedDst, a zero block is checked without
// being decoded, and still fails Load when its payload or its raw checksum
// does not match (the raw checksum edited in the block header and the
// index, with the footer's CRC fixed up, so that only that check can tell).
func TestZeroBlockChecksums(t *testing.T) {
	const bs = MinBlockSize
	arena := make([]byte, 3*bs+100)
	for i := range bs {
		arena[i] = byte(i * 7)
	}
	m := vfs.NewMemFS()
	if err := m.MkdirAll("/z", 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := Write("/z", Meta{Seq: 1, ArenaSize: uint64(len(arena))}, bytes.NewReader(arena), Options{FS: m, BlockSize: bs})
	if err != nil {
		t.Fatal(err)
	}
	file, _ := m.Bytes(in.Path)
	_, blocks, err := Inspect(in.Path, Options{FS: m})
	if err != nil {
		t.Fatal(err)
	}
	load := func(file []byte, zeroed, skipRaw bool) ([]byte, error) {
		fs := vfs.NewMemFS()
		f, err := vfs.Create(fs, "/f.snap")
		if err != nil {
			t.Fatal(err)
		}
		f.Write(file)
		f.Close()
		dst := make([]byte, len(arena))
		if !zeroed {
			for i := range dst {
				dst[i] = 0x5A
			}
		}
		_, err = Load("/f.snap", dst, Options{FS: fs, ZeroedDst: zeroed, SkipRawCRC: skipRaw})
		return dst, err
	}
	for _, zeroed := range []bool{false, true} {
		if dst, err := load(file, zeroed, false); err != nil || !bytes.Equal(dst, arena) {
			t.Fatalf("ZeroedDst %v: %v", zeroed, err)
		}
	}
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	idx := le.Uint64(file[len(file)-32:])
	for b := 1; b < len(blocks); b++ { // the zero blocks, the last one short
		if !lz4Zeros(file[blocks[b].Offset:blocks[b].Offset+int64(blocks[b].StoredBytes)], int(blocks[b].RawBytes)) {
			t.Fatalf("block %d: not taken for zeros", b)
		}
		bad := bytes.Clone(file)
		hdr := blocks[b].Offset - 20
		le.PutUint64(bad[hdr+12:], le.Uint64(bad[hdr+12:])^1)
		le.PutUint64(bad[idx+uint64(b)*20+12:], le.Uint64(bad[idx+uint64(b)*20+12:])^1)
		c := crc32.Update(0, tab, bad[:64])
		c = crc32.Update(c, tab, bad[idx:len(bad)-12])
		le.PutUint32(bad[len(bad)-12:], c)
		for _, zeroed := range []bool{false, true} {
			if _, err := load(bad, zeroed, false); !errors.Is(err, ErrChecksum) {
				t.Errorf("block %d, raw checksum edited, ZeroedDst %v: %v, want ErrChecksum", b, zeroed, err)
			}
			if _, err := load(bad, zeroed, true); err != nil {
				t.Errorf("block %d, raw checksum edited, SkipRawCRC, ZeroedDst %v: %v (only the raw check can see it)", b, zeroed, err)
			}
		}
		bad = bytes.Clone(file)
		bad[blocks[b].Offset] ^= 1
		if _, err := load(bad, true, true); !errors.Is(err, ErrChecksum) {
			t.Errorf("block %d, payload damaged, ZeroedDst: %v, want ErrChecksum", b, err)
		}
	}
}
