package walfile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/cowbook/cowbook/internal/zeros"
)

// Wire format: these constants define the bytes on disk (see doc.go). They
// may only change together with FormatVersion.
const (
	// FormatVersion is the version written in every new segment header.
	// Version 2 added the segment's epoch, which seeds every record's
	// checksum and whose low 24 bits tag every record header. Segments of
	// version 1 (no epoch, reserved bytes zero, unseeded checksums) are
	// still read and appended to.
	FormatVersion = 2
	// formatV1 is the first version, read but no longer created.
	formatV1 = 1
	// segmentMagic opens every segment.
	segmentMagic = "cowbWAL\x00"
	// segHeaderLen is the length of the segment header at offset 0; the rest
	// of the header block is zero. segHeaderLenV1 is that of version 1.
	segHeaderLen   = 40
	segHeaderLenV1 = 32
	// freshEpoch is the epoch of a segment file's first life, when it was
	// written full of zeros; each reuse of the file adds one (skipping
	// epochs whose tag would be 0).
	freshEpoch = 1
	// tagMask selects the bits of the epoch that tag each record header
	// (bytes 21..23).
	tagMask = 1<<24 - 1
	// RecordHeaderLen is the length of a record header.
	RecordHeaderLen = 24
	// recordAlign is the alignment of every record within a segment.
	recordAlign = 8
)

// Not wire format.
const (
	// segExt names a segment; brokenExt a copy of bytes cut from one;
	// tmpExt a segment being prepared.
	segExt    = ".wal"
	brokenExt = ".broken"
	tmpExt    = ".tmp"
	// recycleExt names a segment file in the recycle pool: the segment's
	// name plus this.
	recycleExt = ".recycle"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// recordSize returns the bytes a record with n payload bytes occupies,
// padding included.
func recordSize(n int) int {
	return (RecordHeaderLen + n + recordAlign - 1) &^ (recordAlign - 1)
}

// segKey is what ties a record to one life of its segment file: the
// checksum seed derived from the segment's epoch and the epoch's tag.
// Version 1 segments have the zero key: unseeded checksums, zero tag.
type segKey struct {
	seed uint32 // CRC32C of the epoch's 8 little-endian bytes
	tag  uint32 // epoch & tagMask
}

// keyFor returns the key of a segment with epoch e (0: version 1).
func keyFor(e uint64) segKey {
	if e == 0 {
		return segKey{}
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], e)
	return segKey{seed: crc32.Checksum(b[:], castagnoli), tag: uint32(e & tagMask)}
}

// nextEpoch returns the epoch of the next life of a file whose current
// epoch is e: one more, skipping any whose tag is zero, so that a record
// header of a later life never looks like a zeroed or version 1 one. A
// version 1 file (e = 0) has lived its first life: its next is 2, a
// recycled one.
func nextEpoch(e uint64) uint64 {
	if e == 0 {
		e = freshEpoch
	}
	e++
	if e&tagMask == 0 {
		e++
	}
	return e
}

// recordCRC is the checksum of the encoded record rec under key k: CRC32C of
// the epoch's bytes followed by every byte of the record after the checksum
// field.
func recordCRC(rec []byte, k segKey) uint32 {
	if c, ok := recordCRCFast(rec, k); ok {
		return c
	}
	return crc32.Update(k.seed, castagnoli, rec[4:])
}

// encodeRecord writes one record into dst, which must hold recordSize(len(payload))
// bytes, and returns that size.
func encodeRecord(dst []byte, seq uint64, batch uint32, typ uint8, payload []byte, k segKey) int {
	n := encodeBody(dst, seq, typ, payload)
	sealRecord(dst[:n], batch, k)
	return n
}

// encodeBody writes a record without its batch and checksum fields (left
// zero) into dst, which must hold recordSize(len(payload)) bytes, and returns
// that size. Appenders call it; the writer seals the records of a batch
// (sealBatch) just before writing them, which keeps the checksum off the
// appender's path.
func encodeBody(dst []byte, seq uint64, typ uint8, payload []byte) int {
	n := recordSize(len(payload))
	dst = dst[:n]
	// Zeros, then the non-zero fields. Written as PutUint64s of values
	// whose bytes are partly constant, the header compiled to a dozen
	// single-byte stores.
	h := (*[RecordHeaderLen]byte)(dst)
	clear(h[:])
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint64(h[8:], seq)
	h[20] = typ
	copy(dst[RecordHeaderLen:], payload)
	clear(dst[RecordHeaderLen+len(payload):])
	return n
}

// sealRecord sets the batch field, the epoch tag and the checksum of the
// encoded record rec for a segment with key k.
func sealRecord(rec []byte, batch uint32, k segKey) {
	binary.LittleEndian.PutUint32(rec[16:], batch)
	rec[21], rec[22], rec[23] = byte(k.tag), byte(k.tag>>8), byte(k.tag>>16)
	binary.LittleEndian.PutUint32(rec[0:], recordCRC(rec, k))
}

// recordTag returns the epoch tag of the record header h.
func recordTag(h []byte) uint32 {
	return uint32(h[21]) | uint32(h[22])<<8 | uint32(h[23])<<16
}

// sealBatch seals every record in b, which holds whole records encoded by
// encodeBody back to back, for a write issued while durable was the durable
// sequence: each record's batch field becomes seq-durable-1, so that
// seq-batch-1 is a sequence known durable when the record was written (see
// doc.go), with the key k of the segment they are written to. It returns an
// error, sealing nothing further, if b does not hold whole records; that is a
// bug, never input.
func sealBatch(b []byte, durable uint64, k segKey) error {
	tag := uint64(k.tag) << 40
	// Checksums are taken three records at a time (recordCRC3Fast), once
	// their other fields are set.
	var recs [3][]byte
	pending := 0
	for off := 0; off < len(b); {
		r := b[off:]
		if len(r) < RecordHeaderLen {
			return fmt.Errorf("walfile: %d stray bytes at the end of a batch", len(r))
		}
		size := recordSize(int(binary.LittleEndian.Uint32(r[4:])))
		seq := binary.LittleEndian.Uint64(r[8:])
		if size > len(r) || seq <= durable || seq-durable-1 > maxBatchField {
			return fmt.Errorf("walfile: bad record in a batch at %d (sequence %d, durable %d)", off, seq, durable)
		}
		rec := r[:size]
		// Bytes 16..23 at once: batch field, type (kept), tag.
		binary.LittleEndian.PutUint64(rec[16:], (seq-durable-1)|uint64(rec[20])<<32|tag)
		recs[pending] = rec
		if pending++; pending == len(recs) {
			if !recordCRC3Fast(&recs, k) {
				checksumEach(recs[:], k)
			}
			pending = 0
		}
		off += size
	}
	checksumEach(recs[:pending], k)
	return nil
}

// checksumEach sets the checksum field of every record in recs under key k.
func checksumEach(recs [][]byte, k segKey) {
	for _, r := range recs {
		binary.LittleEndian.PutUint32(r, recordCRC(r, k))
	}
}

// maxBatchField bounds the batch field the writer may write: the writer
// waits for an fdatasync rather than write a record more than this many
// sequences past the durable one.
const maxBatchField = 1<<31 - 1

// Record is one decoded log record. Payload aliases the reader's buffer and
// is valid until the next call to Next.
type Record struct {
	Seq     uint64
	Type    uint8
	Payload []byte
}

// decoded is a record as found in a segment.
type decoded struct {
	Record
	batch uint32 // seq minus the first sequence of its batch
	size  int    // bytes occupied, padding included
}

// batchStart returns the first sequence of the batch that wrote the record.
func (d *decoded) batchStart() uint64 { return d.Seq - uint64(d.batch) }

// Reasons a record does not decode. They are internal: the scanner turns them
// into ErrCorrupt with a segment and offset, or into a torn tail.
var (
	errEnd       = errors.New("end of data")
	errTruncated = errors.New("record runs past the end of the segment")
	errLength    = errors.New("impossible record length")
	errTag       = errors.New("record of another life of the segment file (epoch tag)")
	errChecksum  = errors.New("checksum mismatch")
	errSeqZero   = errors.New("sequence 0")
	errBatch     = errors.New("batch offset larger than sequence")
)

// decodeRecord decodes the record at the start of b, for a segment with key
// k. It returns errEnd when b starts with an all-zero record header (or is
// too short to hold one and is all zero), errTag when the header carries
// another epoch's tag, and another error when the bytes are not a valid
// record. It never panics, whatever b holds.
func decodeRecord(b []byte, k segKey) (decoded, error) {
	var d decoded
	err := decodeInto(b, k, &d)
	return d, err
}

// decodeInto is decodeRecord into *d, for the loops that decode every
// record: a record returned by value through them was copied with wide
// loads of narrower stores just made, each a store-forwarding stall.
func decodeInto(b []byte, k segKey, d *decoded) error {
	if len(b) < RecordHeaderLen {
		if zeros.All(b) {
			return errEnd
		}
		return errTruncated
	}
	h := b[:RecordHeaderLen]
	if zeros.All(h) {
		return errEnd
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if uint64(n) > uint64(len(b)-RecordHeaderLen) {
		return errLength
	}
	size := recordSize(int(n))
	if size > len(b) {
		return errTruncated
	}
	if recordTag(h) != k.tag {
		return errTag
	}
	if recordCRC(b[:size], k) != binary.LittleEndian.Uint32(h[0:]) {
		return errChecksum
	}
	d.Seq = binary.LittleEndian.Uint64(h[8:])
	d.batch = binary.LittleEndian.Uint32(h[16:])
	d.Type = h[20]
	d.Payload = b[RecordHeaderLen : RecordHeaderLen+int(n)]
	d.size = size
	if d.Seq == 0 {
		return errSeqZero
	}
	if uint64(d.batch) >= d.Seq {
		return errBatch
	}
	return nil
}

// segHeader is the decoded header of a segment.
type segHeader struct {
	version   int
	blockSize int
	firstSeq  uint64
	epoch     uint64 // 0 for version 1
}

// key returns the key of the segment's records.
func (h segHeader) key() segKey { return keyFor(h.epoch) }

// recycled reports whether the segment file lives a later life than the one
// it was zero-filled for: bytes after its data are then leftovers of earlier
// lives, not zeros.
func (h segHeader) recycled() bool { return h.epoch > freshEpoch }

// encodeSegHeader fills block (one header block) with a header of the
// current version.
func encodeSegHeader(block []byte, blockSize int, firstSeq, epoch uint64) {
	clear(block)
	copy(block, segmentMagic)
	binary.LittleEndian.PutUint32(block[8:], FormatVersion)
	binary.LittleEndian.PutUint32(block[12:], uint32(blockSize))
	binary.LittleEndian.PutUint64(block[20:], firstSeq)
	binary.LittleEndian.PutUint64(block[28:], epoch)
	binary.LittleEndian.PutUint32(block[36:], crc32.Checksum(block[:36], castagnoli))
}

// decodeSegHeader checks the header block at the start of b.
func decodeSegHeader(b []byte) (segHeader, error) {
	var h segHeader
	if len(b) < segHeaderLenV1 {
		return h, errors.New("segment shorter than its header")
	}
	if string(b[:8]) != segmentMagic {
		return h, errors.New("bad magic")
	}
	hl := segHeaderLen
	switch v := binary.LittleEndian.Uint32(b[8:]); v {
	case FormatVersion:
	case formatV1:
		hl = segHeaderLenV1
	default:
		return h, fmt.Errorf("format version %d, want %d or %d", v, formatV1, FormatVersion)
	}
	if len(b) < hl {
		return h, errors.New("segment shorter than its header")
	}
	if crc32.Checksum(b[:hl-4], castagnoli) != binary.LittleEndian.Uint32(b[hl-4:]) {
		return h, errors.New("header checksum mismatch")
	}
	h.version = int(binary.LittleEndian.Uint32(b[8:]))
	if h.version == FormatVersion {
		h.epoch = binary.LittleEndian.Uint64(b[28:])
		if h.epoch == 0 || h.epoch&tagMask == 0 {
			return h, fmt.Errorf("impossible epoch %d", h.epoch)
		}
	}
	bs := binary.LittleEndian.Uint32(b[12:])
	if bs == 0 || bs%4096 != 0 || bs > 1<<20 {
		return h, fmt.Errorf("impossible block size %d", bs)
	}
	if binary.LittleEndian.Uint32(b[16:]) != 0 {
		return h, errors.New("reserved header bytes not zero")
	}
	h.blockSize = int(bs)
	h.firstSeq = binary.LittleEndian.Uint64(b[20:])
	if h.firstSeq == 0 {
		return h, errors.New("first sequence 0")
	}
	if len(b) < h.blockSize {
		return h, errors.New("segment shorter than its header block")
	}
	if !zeros.All(b[hl:h.blockSize]) {
		return h, errors.New("header block padding not zero")
	}
	return h, nil
}

// lastNonZero returns the index after the last non-zero byte of b, 0 if none.
func lastNonZero(b []byte) int {
	i := len(b)
	for i >= 8 && binary.LittleEndian.Uint64(b[i-8:]) == 0 {
		i -= 8
	}
	for i > 0 && b[i-1] == 0 {
		i--
	}
	return i
}

// segmentName returns the file name of the segment whose first record is seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segExt) }

// parseSegmentName returns the first sequence a segment name carries.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != 20+len(segExt) || name[20:] != segExt {
		return 0, false
	}
	var seq uint64
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if seq > (1<<64-1-d)/10 {
			return 0, false
		}
		seq = seq*10 + d
	}
	return seq, seq != 0
}

// RecordSize returns the bytes a record with a payload of n bytes occupies
// in a segment, header and padding included.
func RecordSize(n int) int { return recordSize(n) }
