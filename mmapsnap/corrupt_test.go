package mmapsnap_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

// smallSnapshot returns a snapshot file of a few blocks holding both
// compressed and raw blocks, an all-zero block and a short last block, and
// its arena.
func smallSnapshot(t testing.TB) (file, arena []byte) {
	t.Helper()
	const bs = mmapsnap.MinBlockSize
	arena = append(payload("orders", bs, 3), payload("random", bs, 4)...)
	arena = append(arena, make([]byte, bs)...) // all zeros: see Options.ZeroedDst
	arena = append(arena, payload("mixed", bs/2+5, 5)...)
	m := newMemDir(t, "/s")
	in := mustWrite(t, m, "/s", 1, arena, mmapsnap.Options{BlockSize: bs, Workers: 2})
	if in.RawBlocks == 0 || in.RawBlocks == in.Blocks {
		t.Fatalf("want both raw and compressed blocks: %+v", in)
	}
	file, _ = m.Bytes(in.Path)
	return file, arena
}

// loadBytes runs Verify and Load on file (as a MemFS file) and returns both
// errors; dst is compared with arena whenever a Load succeeds. Load runs
// with and without the raw CRC check, each into a destination of garbage
// and into a zeroed one with Options.ZeroedDst, and the returned Load error
// is nil only if all succeed: detection must depend neither on the raw CRC
// nor on the zero-block path.
func loadBytes(t *testing.T, file, arena []byte) (verr, lerr error) {
	return loadBytesWorkers(t, file, arena, 2)
}

func loadBytesWorkers(t *testing.T, file, arena []byte, workers int) (verr, lerr error) {
	t.Helper()
	m := newMemDir(t, "/c")
	putFile(t, m, "/c/f.snap", file)
	opts := mmapsnap.Options{FS: m, Workers: workers}
	_, verr = mmapsnap.Verify("/c/f.snap", opts)
	var errs [4]error
	for i := range errs {
		dst := make([]byte, len(arena))
		opts.SkipRawCRC, opts.ZeroedDst = i&1 == 1, i&2 == 2
		if !opts.ZeroedDst {
			for j := range dst {
				dst[j] = 0xA5
			}
		}
		_, errs[i] = mmapsnap.Load("/c/f.snap", dst, opts)
		if errs[i] == nil && !bytes.Equal(dst, arena) {
			t.Fatalf("Load (SkipRawCRC %v, ZeroedDst %v) returned nil with a different arena", opts.SkipRawCRC, opts.ZeroedDst)
		}
	}
	for i := range errs {
		if (errs[i] == nil) != (errs[0] == nil) {
			t.Fatalf("Load verdicts differ (SkipRawCRC, ZeroedDst: 00 01 10 11 as i&1, i&2): %v", errs)
		}
	}
	lerr = errs[0]
	return verr, lerr
}

// TestEveryBitFlipDetected flips each bit of a small snapshot in turn: Verify
// and Load must both fail with a corruption error, every time.
func TestEveryBitFlipDetected(t *testing.T) {
	file, arena := smallSnapshot(t)
	if verr, lerr := loadBytes(t, file, arena); verr != nil || lerr != nil {
		t.Fatalf("pristine file: %v, %v", verr, lerr)
	}
	bad := make([]byte, len(file))
	stride := 1
	if raceEnabled || testing.Short() {
		stride = 13
	}
	for bit := 0; bit < 8*len(file); bit += stride {
		copy(bad, file)
		bad[bit/8] ^= 1 << (bit % 8)
		// One worker: the flip loop is long, and parallel decoding has its
		// own tests.
		verr, lerr := loadBytesWorkers(t, bad, arena, 1)
		if !mmapsnap.IsCorrupt(verr) || !mmapsnap.IsCorrupt(lerr) {
			t.Fatalf("bit %d (offset %d) flipped: Verify %v, Load %v", bit, bit/8, verr, lerr)
		}
	}
	t.Logf("%d bit flips (every %d) in a %d-byte file, all detected", 8*len(file)/stride, stride, len(file))
}

// TestEveryTruncationDetected cuts the file at every length, and appends
// junk: all are ErrTruncated.
func TestEveryTruncationDetected(t *testing.T) {
	file, arena := smallSnapshot(t)
	for n := 0; n < len(file); n++ {
		verr, lerr := loadBytes(t, file[:n], arena)
		if !errors.Is(verr, mmapsnap.ErrTruncated) || !errors.Is(lerr, mmapsnap.ErrTruncated) {
			t.Fatalf("truncated to %d of %d bytes: Verify %v, Load %v", n, len(file), verr, lerr)
		}
	}
	for _, junk := range [][]byte{{0}, []byte("SNAPEND"), make([]byte, 4096)} {
		verr, lerr := loadBytes(t, append(append([]byte(nil), file...), junk...), arena)
		if !mmapsnap.IsCorrupt(verr) || !mmapsnap.IsCorrupt(lerr) {
			t.Fatalf("%d junk bytes appended: Verify %v, Load %v", len(junk), verr, lerr)
		}
	}
}

// TestDecoderErrors is a table of hand-made damage with the error each must
// give, including a file with consistent CRCs but impossible sizes (what a
// buggy or hostile writer could produce).
func TestDecoderErrors(t *testing.T) {
	file, arena := smallSnapshot(t)
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	idx := le.Uint64(file[len(file)-32:])
	last := le.Uint64(file[len(file)-24:]) - 1 // the last block is compressed (smallSnapshot)
	// refix recomputes the header and footer CRCs after an edit, so that only
	// the structural check can catch it.
	refix := func(b []byte) []byte {
		le.PutUint32(b[60:], crc32.Checksum(b[:60], tab))
		c := crc32.Update(0, tab, b[:64])
		c = crc32.Update(c, tab, b[idx:len(b)-12])
		le.PutUint32(b[len(b)-12:], c)
		return b
	}
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), file...)) }
	// The last block's header and payload: blocks lie back to back from
	// offset 64, each a 20-byte header and its stored bytes.
	hdr := uint64(64)
	for i := uint64(0); i < last; i++ {
		hdr += 20 + uint64(le.Uint32(file[idx+i*20:]))
	}
	pay, n := hdr+20, uint64(le.Uint32(file[hdr:]))
	// garble overwrites the last block's payload with bytes LZ4 cannot
	// decode (a literal run longer than the block).
	garble := func(b []byte) []byte {
		for i := pay; i < pay+n; i++ {
			b[i] = 0xff
		}
		return b
	}
	cases := []struct {
		name string
		file []byte
		want error
	}{
		{"empty", nil, mmapsnap.ErrTruncated},
		{"bad magic", edit(func(b []byte) []byte { b[0] = 'X'; return b }), mmapsnap.ErrInvalid},
		{"future version", edit(func(b []byte) []byte { le.PutUint32(b[8:], 3); return refix(b) }), mmapsnap.ErrVersion},
		{"version 1 label on a version 2 file", edit(func(b []byte) []byte { le.PutUint32(b[8:], 1); return refix(b) }), mmapsnap.ErrInvalid},
		{"unknown compression", edit(func(b []byte) []byte { le.PutUint32(b[44:], 9); return refix(b) }), mmapsnap.ErrVersion},
		{"header crc", edit(func(b []byte) []byte { b[20] ^= 1; return b }), mmapsnap.ErrChecksum},
		{"footer crc", edit(func(b []byte) []byte { b[idx] ^= 1; return b }), mmapsnap.ErrChecksum},
		{"no end magic", edit(func(b []byte) []byte { b[len(b)-1] = 'x'; return b }), mmapsnap.ErrTruncated},
		{"huge arena", edit(func(b []byte) []byte { le.PutUint64(b[24:], 1<<62); return refix(b) }), mmapsnap.ErrInvalid},
		{"tiny block size", edit(func(b []byte) []byte { le.PutUint32(b[40:], 16); return refix(b) }), mmapsnap.ErrInvalid},
		{"huge block size", edit(func(b []byte) []byte { le.PutUint32(b[40:], 1<<31); return refix(b) }), mmapsnap.ErrInvalid},
		{"index offset past file", edit(func(b []byte) []byte { le.PutUint64(b[len(b)-32:], 1<<63); return refix(b) }), mmapsnap.ErrInvalid},
		{"block count", edit(func(b []byte) []byte { le.PutUint64(b[len(b)-24:], 1<<60); return refix(b) }), mmapsnap.ErrInvalid},
		{"stored length in index", edit(func(b []byte) []byte { le.PutUint32(b[idx:], le.Uint32(b[idx:])+1); return refix(b) }), mmapsnap.ErrInvalid},
		{"raw length in index", edit(func(b []byte) []byte { le.PutUint32(b[idx+4:], 1); return refix(b) }), mmapsnap.ErrInvalid},
		{"index disagrees with block header", edit(func(b []byte) []byte { b[idx+last*20+8] ^= 1; return refix(b) }), mmapsnap.ErrChecksum},
		{"compressed payload", edit(func(b []byte) []byte { b[pay+n/2] ^= 4; return b }), mmapsnap.ErrChecksum},
		// The CRC runs after the decoder; a payload it rejects is still a
		// checksum mismatch, not a format error.
		{"undecodable payload", edit(garble), mmapsnap.ErrChecksum},
		{"undecodable payload with its CRC", edit(func(b []byte) []byte {
			c := crc32.Checksum(garble(b)[pay:pay+n], tab)
			le.PutUint32(b[hdr+8:], c)
			le.PutUint32(b[idx+last*20+8:], c)
			return refix(b)
		}), mmapsnap.ErrInvalid},
		{"reserved header bytes", edit(func(b []byte) []byte { b[50] = 1; return refix(b) }), mmapsnap.ErrInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			verr, lerr := loadBytes(t, c.file, arena)
			if !errors.Is(verr, c.want) || !errors.Is(lerr, c.want) {
				t.Fatalf("Verify %v, Load %v; want %v", verr, lerr, c.want)
			}
			m := newMemDir(t, "/c")
			putFile(t, m, "/c/f.snap", c.file)
			_, _, err := mmapsnap.Inspect("/c/f.snap", mmapsnap.Options{FS: m})
			if blockLevel := c.name == "index disagrees with block header" || strings.Contains(c.name, "payload"); blockLevel != (err == nil) || !blockLevel && !errors.Is(err, c.want) {
				// Inspect reads no block, so it sees all but block-level damage.
				t.Fatalf("Inspect %v; want %v", err, c.want)
			}
		})
	}
}

// TestCorruptOnDisk runs the bit-flip check on real files, through the mmap
// path, for a sample of positions.
func TestCorruptOnDisk(t *testing.T) {
	file, arena := smallSnapshot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, mmapsnap.FileName(1))
	for off := 0; off < len(file); off += 97 {
		bad := append([]byte(nil), file...)
		bad[off] ^= 0x10
		putFile(t, vfs.OS, path, bad)
		dst := make([]byte, len(arena))
		if _, err := mmapsnap.Load(path, dst, mmapsnap.Options{}); !mmapsnap.IsCorrupt(err) {
			t.Fatalf("offset %d flipped, mapped Load: %v", off, err)
		}
		if _, err := mmapsnap.Verify(path, mmapsnap.Options{}); !mmapsnap.IsCorrupt(err) {
			t.Fatalf("offset %d flipped, mapped Verify: %v", off, err)
		}
	}
}
