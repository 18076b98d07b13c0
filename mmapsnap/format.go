package mmapsnap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/zeebo/xxh3"
)

// Wire format constants (see doc.go). Changing any of them changes the
// format and needs a new wireVersion.
const (
	wireMagic     = "COWSNAP\x00"
	wireEndMagic  = "SNAPEND\x00"
	wireVersion   = 2 // written; wireVersion1 is still read
	wireVersion1  = 1 // raw checksum is a CRC32C in a 16-byte entry
	wireLZ4Block  = 1 // compression id: LZ4 block format, one block per arena block
	wireHeaderLen = 64
	wireEntryV1   = 16 // block header and index entry, version 1
	wireEntryV2   = 20 // block header and index entry, version 2
	wireFooterLen = 32
)

// entryLen is the size of a block header (and of an index entry) in the
// given format version, which decodeHeader has accepted.
func entryLen(version uint32) int {
	if version == wireVersion1 {
		return wireEntryV1
	}
	return wireEntryV2
}

// Limits on the block size. The upper bound keeps every stored length in a
// u32 and every allocation a reader makes for one block small; the lower
// bound keeps the index small next to the data.
const (
	MinBlockSize = 4 << 10
	MaxBlockSize = 64 << 20
	// DefaultBlockSize keeps a block's output and its compressed input
	// inside a core's L2 cache (512 KiB per core here), so the checksums
	// that follow decompression read from cache. One-core loads measured
	// the same within noise with 128 KiB, 256 KiB and 1 MiB blocks, and
	// ≈ 10% slower with 64 KiB blocks (raw LZ4 slows down as much there);
	// LZ4's window is 64 KiB, so larger blocks barely improve the ratio.
	DefaultBlockSize = 256 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// rawSum is the checksum of a block's uncompressed bytes in the given format
// version: XXH3-64 from version 2, CRC32C in version 1.
func rawSum(version uint32, b []byte) uint64 {
	if version == wireVersion1 {
		return uint64(crc(b))
	}
	return xxh3.Hash(b)
}

// Errors returned when reading a snapshot. Each is wrapped with the file and,
// where it applies, the offset; test with errors.Is.
var (
	// ErrInvalid is returned when the file is not a snapshot or breaks the
	// format: wrong magic, impossible sizes, positions that do not add up,
	// a block that does not decompress to its length.
	ErrInvalid = errors.New("mmapsnap: invalid snapshot file")
	// ErrVersion is returned for a snapshot written in a format version or
	// with a compression this code does not read.
	ErrVersion = errors.New("mmapsnap: unsupported snapshot format version")
	// ErrChecksum is returned when a checksum does not match: the header, the
	// footer (over header and index), a block's stored bytes or its
	// uncompressed bytes, or a block header that disagrees with the index.
	ErrChecksum = errors.New("mmapsnap: snapshot checksum mismatch")
	// ErrTruncated is returned when the file ends before its footer: shorter
	// than a header and a footer, or without the end magic at its end, as a
	// write cut short leaves it.
	ErrTruncated = errors.New("mmapsnap: snapshot file truncated")
	// ErrNotFound is returned by Newest and LoadNewest when the directory
	// holds no snapshot that verifies.
	ErrNotFound = errors.New("mmapsnap: no valid snapshot")
)

// IsCorrupt reports whether err means the file's contents are not a whole
// snapshot (any of ErrInvalid, ErrVersion, ErrChecksum, ErrTruncated), as
// opposed to an I/O error reading it. Recovery skips such a file and tries an
// older one.
func IsCorrupt(err error) bool {
	return errors.Is(err, ErrInvalid) || errors.Is(err, ErrVersion) ||
		errors.Is(err, ErrChecksum) || errors.Is(err, ErrTruncated)
}

// header is the decoded fixed header.
type header struct {
	Meta
	formatVersion uint32
	blockSize     uint32
	compression   uint32
}

func (h *header) encode(b []byte) {
	_ = b[wireHeaderLen-1]
	clear(b[:wireHeaderLen])
	copy(b[0:8], wireMagic)
	binary.LittleEndian.PutUint32(b[8:], h.formatVersion)
	binary.LittleEndian.PutUint32(b[12:], h.LayoutVersion)
	binary.LittleEndian.PutUint64(b[16:], h.Seq)
	binary.LittleEndian.PutUint64(b[24:], h.ArenaSize)
	binary.LittleEndian.PutUint64(b[32:], h.StateChecksum)
	binary.LittleEndian.PutUint32(b[40:], h.blockSize)
	binary.LittleEndian.PutUint32(b[44:], h.compression)
	binary.LittleEndian.PutUint32(b[60:], crc(b[:60]))
}

// blockCount returns ceil(arena/blockSize); blockSize is non-zero.
func blockCount(arena uint64, blockSize uint32) uint64 {
	bs := uint64(blockSize)
	return arena/bs + min(arena%bs, 1)
}

// decodeHeader checks magic, version, CRC and the sizes' sanity. It does not
// know the file size; parse bounds the sizes against it.
func decodeHeader(b []byte, name string) (header, error) {
	var h header
	if len(b) < wireHeaderLen {
		return h, fmt.Errorf("%w: %s: %d bytes, shorter than a header", ErrTruncated, name, len(b))
	}
	if string(b[0:8]) != wireMagic {
		return h, fmt.Errorf("%w: %s: bad magic %q at offset 0", ErrInvalid, name, b[0:8])
	}
	h.formatVersion = binary.LittleEndian.Uint32(b[8:])
	if h.formatVersion != wireVersion && h.formatVersion != wireVersion1 {
		return h, fmt.Errorf("%w: %s: format version %d at offset 8, this code reads %d and %d", ErrVersion, name, h.formatVersion, wireVersion1, wireVersion)
	}
	if got, want := crc(b[:60]), binary.LittleEndian.Uint32(b[60:]); got != want {
		return h, fmt.Errorf("%w: %s: header CRC %08x, stored %08x at offset 60", ErrChecksum, name, got, want)
	}
	h.LayoutVersion = binary.LittleEndian.Uint32(b[12:])
	h.Seq = binary.LittleEndian.Uint64(b[16:])
	h.ArenaSize = binary.LittleEndian.Uint64(b[24:])
	h.StateChecksum = binary.LittleEndian.Uint64(b[32:])
	h.blockSize = binary.LittleEndian.Uint32(b[40:])
	h.compression = binary.LittleEndian.Uint32(b[44:])
	if h.compression != wireLZ4Block {
		return h, fmt.Errorf("%w: %s: compression id %d at offset 44", ErrVersion, name, h.compression)
	}
	if h.blockSize < MinBlockSize || h.blockSize > MaxBlockSize {
		return h, fmt.Errorf("%w: %s: block size %d at offset 40 outside [%d, %d]", ErrInvalid, name, h.blockSize, MinBlockSize, MaxBlockSize)
	}
	for _, r := range b[48:60] {
		if r != 0 {
			return h, fmt.Errorf("%w: %s: reserved header bytes not zero", ErrInvalid, name)
		}
	}
	return h, nil
}

// entry is one block's index entry (and block header: they are identical).
type entry struct {
	stored    uint32 // payload bytes in the file
	raw       uint32 // uncompressed bytes
	storedCRC uint32
	rawSum    uint64 // rawSum of the uncompressed bytes (a u32 in version 1)
}

// encode writes e in the current format (wireEntryV2 bytes).
func (e entry) encode(b []byte) {
	_ = b[wireEntryV2-1]
	binary.LittleEndian.PutUint32(b[0:], e.stored)
	binary.LittleEndian.PutUint32(b[4:], e.raw)
	binary.LittleEndian.PutUint32(b[8:], e.storedCRC)
	binary.LittleEndian.PutUint64(b[12:], e.rawSum)
}

// decodeEntry reads an entry of the given format version; b holds at least
// entryLen(version) bytes.
func decodeEntry(version uint32, b []byte) entry {
	e := entry{
		stored:    binary.LittleEndian.Uint32(b[0:]),
		raw:       binary.LittleEndian.Uint32(b[4:]),
		storedCRC: binary.LittleEndian.Uint32(b[8:]),
	}
	if version == wireVersion1 {
		e.rawSum = uint64(binary.LittleEndian.Uint32(b[12:]))
	} else {
		e.rawSum = binary.LittleEndian.Uint64(b[12:])
	}
	return e
}

// isRaw reports whether the block is stored uncompressed.
func (e entry) isRaw() bool { return e.stored == e.raw }

// layout is a parsed, validated file: header, index with each block's
// payload offset, and sizes. Every offset in it lies inside the file.
type layout struct {
	header
	fileSize    int64
	indexOffset int64
	blocks      []entry
	offsets     []int64 // payload offset of each block (after its block header)
	storedBytes int64   // sum of payload lengths
	footerCRC   uint32
	zeroedDst   bool // Load's destination holds zeros (Options.ZeroedDst)
}

// encodeFooter fills the footer; crcSoFar covers header and index. It
// returns the footer CRC.
func encodeFooter(b []byte, indexOffset, count uint64, crcSoFar uint32) uint32 {
	binary.LittleEndian.PutUint64(b[0:], indexOffset)
	binary.LittleEndian.PutUint64(b[8:], count)
	binary.LittleEndian.PutUint32(b[16:], 0)
	c := crc32.Update(crcSoFar, castagnoli, b[:20])
	binary.LittleEndian.PutUint32(b[20:], c)
	copy(b[24:32], wireEndMagic)
	return c
}

// parse validates everything but the block payloads: the header, the footer
// and its CRC over header and index, and that the blocks' positions add up to
// exactly the file. readAt reads from the file; size is its size. Only the
// header, the footer and the index are read; the index is bounded by the
// file size and by the block count the header implies before it is
// allocated.
func parse(readAt func(p []byte, off int64) error, size int64, name string) (*layout, error) {
	if size < wireHeaderLen+wireFooterLen {
		return nil, fmt.Errorf("%w: %s: %d bytes, shorter than header and footer", ErrTruncated, name, size)
	}
	var hb [wireHeaderLen]byte
	if err := readAt(hb[:], 0); err != nil {
		return nil, err
	}
	h, err := decodeHeader(hb[:], name)
	if err != nil {
		return nil, err
	}
	var fb [wireFooterLen]byte
	footerOff := size - wireFooterLen
	if err := readAt(fb[:], footerOff); err != nil {
		return nil, err
	}
	if string(fb[24:32]) != wireEndMagic {
		return nil, fmt.Errorf("%w: %s: no end magic at offset %d (file of %d bytes)", ErrTruncated, name, footerOff+24, size)
	}
	indexOff := binary.LittleEndian.Uint64(fb[0:])
	count := binary.LittleEndian.Uint64(fb[8:])
	want := blockCount(h.ArenaSize, h.blockSize)
	ent := uint64(entryLen(h.formatVersion))
	if count != want {
		return nil, fmt.Errorf("%w: %s: footer block count %d at offset %d, header implies %d", ErrInvalid, name, count, footerOff+8, want)
	}
	// Checked in this order, nothing overflows: count is bounded by the file
	// size before it is multiplied.
	if count > uint64(footerOff-wireHeaderLen)/ent || indexOff != uint64(footerOff)-count*ent {
		return nil, fmt.Errorf("%w: %s: index of %d entries at offset %d does not end at the footer (offset %d)", ErrInvalid, name, count, indexOff, footerOff)
	}
	if binary.LittleEndian.Uint32(fb[16:]) != 0 {
		return nil, fmt.Errorf("%w: %s: reserved footer bytes not zero at offset %d", ErrInvalid, name, footerOff+16)
	}
	// Bounded: the index lies inside the file, so this is at most the file size.
	ib := make([]byte, count*ent)
	if err := readAt(ib, int64(indexOff)); err != nil {
		return nil, err
	}
	c := crc32.Update(0, castagnoli, hb[:])
	c = crc32.Update(c, castagnoli, ib)
	c = crc32.Update(c, castagnoli, fb[:20])
	if stored := binary.LittleEndian.Uint32(fb[20:]); c != stored {
		return nil, fmt.Errorf("%w: %s: footer CRC %08x, stored %08x at offset %d", ErrChecksum, name, c, stored, footerOff+20)
	}
	l := &layout{
		header:      h,
		fileSize:    size,
		indexOffset: int64(indexOff),
		blocks:      make([]entry, count),
		offsets:     make([]int64, count),
		footerCRC:   c,
	}
	pos := int64(wireHeaderLen)
	bs := uint64(h.blockSize)
	for i := range l.blocks {
		e := decodeEntry(h.formatVersion, ib[uint64(i)*ent:])
		wantRaw := bs
		if uint64(i) == count-1 {
			wantRaw = h.ArenaSize - (count-1)*bs
		}
		if uint64(e.raw) != wantRaw {
			return nil, fmt.Errorf("%w: %s: block %d raw length %d, want %d", ErrInvalid, name, i, e.raw, wantRaw)
		}
		// The writer stores a block raw whenever LZ4 does not shrink it, so
		// a stored length is never above the raw length. In version 1 both
		// checksums of a raw block are the CRC32C of the same bytes.
		if e.stored == 0 || e.stored > e.raw || h.formatVersion == wireVersion1 && e.stored == e.raw && uint64(e.storedCRC) != e.rawSum {
			return nil, fmt.Errorf("%w: %s: block %d stored length %d out of bounds for %d raw bytes", ErrInvalid, name, i, e.stored, e.raw)
		}
		end := pos + int64(ent) + int64(e.stored)
		if end > int64(indexOff) {
			return nil, fmt.Errorf("%w: %s: block %d at offset %d runs past the index at offset %d", ErrInvalid, name, i, pos, indexOff)
		}
		l.blocks[i] = e
		l.offsets[i] = pos + int64(ent)
		l.storedBytes += int64(e.stored)
		pos = end
	}
	if pos != int64(indexOff) {
		return nil, fmt.Errorf("%w: %s: blocks end at offset %d, index starts at %d", ErrInvalid, name, pos, indexOff)
	}
	return l, nil
}
