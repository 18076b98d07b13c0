package walfile

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"path/filepath"
	"strings"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/internal/zeros"
)

// segment is a segment file found in the log directory.
type segment struct {
	name  string
	path  string
	first uint64 // from the name
}

// listSegments returns the segments in dir in log order, and the names of
// leftover prepared files.
func listSegments(fs vfs.FS, dir string) (segs []segment, tmps []string, err error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		if seq, ok := parseSegmentName(n); ok {
			segs = append(segs, segment{name: n, path: filepath.Join(dir, n), first: seq})
		} else if strings.HasSuffix(n, tmpExt) && strings.HasPrefix(n, "prealloc-") {
			tmps = append(tmps, n)
		}
	}
	return segs, tmps, nil
}

// loadChunk is the unit in which segments are read.
const loadChunk = 1 << 20

// alwaysLoadWhole makes loadSegment read whole segments; tests set it to
// compare the prefix loading with the plain one.
var alwaysLoadWhole = false

// segData is a segment as loaded: all of its bytes, or a prefix after which
// the file was checked to hold only zeros.
type segData struct {
	b        []byte
	size     int64 // the file's size
	complete bool  // b holds the whole file
}

// loadSegment reads a segment into buf (grown as needed). Unless whole is
// set, it stops after the first chunk past the header that is all zeros and
// only checks that the rest of the file is zero, reading it in large pieces
// into a scratch buffer: a restart then reads the zeroed, preallocated end of
// the last segment without keeping it in memory. If any byte of the rest is
// not zero, it loads the whole file. A caller that finds anything but a clean
// end in a prefix (a record running past it, or a spot) must load the whole
// segment before judging it.
func loadSegment(fs vfs.FS, path string, buf []byte, whole bool) (segData, error) {
	whole = whole || alwaysLoadWhole
	f, err := vfs.Open(fs, path)
	if err != nil {
		return segData{}, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return segData{}, err
	}
	read := func(p []byte, off int64) error {
		if m, err := f.ReadAt(p, off); err != nil && !(err == io.EOF && m == len(p)) {
			return fmt.Errorf("walfile: read %s at %d: %w", path, off, err)
		}
		return nil
	}
	b := buf[:0]
	off := int64(0)
	// A recycled segment is loaded up to the end of its data (found by
	// walking its records as they arrive); the rest, leftovers of earlier
	// lives, is then searched for records of this life in large pieces.
	var recycled bool
	var key segKey
	var pos int64
	var expect uint64
	for off < n {
		k := min(int64(loadChunk), n-off)
		if int64(cap(b)) < off+k {
			// Double while the data may be a short prefix; once it is
			// several chunks long, the segment is likely full: make room
			// for all of it at once rather than copy it again and again.
			c := max(2*int64(cap(b)), off+k)
			if off >= 4*loadChunk {
				c = n
			}
			nb := make([]byte, off+k, min(n, c))
			copy(nb, b)
			b = nb
		}
		b = b[:off+k]
		if err := read(b[off:off+k], off); err != nil {
			return segData{}, err
		}
		off += k
		if off == k && !whole {
			if h, err := decodeSegHeader(b); err == nil && h.recycled() {
				recycled, key, pos, expect = true, h.key(), int64(h.blockSize), h.firstSeq
			}
		}
		if whole {
			continue
		}
		if recycled {
			done, ok := walkData(b, &pos, &expect, key, off == n)
			if !ok {
				whole = true
			} else if done {
				break
			}
			continue
		}
		if off > k && zeros.All(b[off-k:off]) {
			break
		}
	}
	if off == n {
		return segData{b: b, size: n, complete: true}, nil
	}
	scratch := make([]byte, 0, 4*loadChunk)
	start := off
	if recycled {
		// From the end of the data: a record of this life in the loaded
		// prefix may run past it.
		start = pos
	}
	for p := start; p < n; {
		k := min(int64(cap(scratch)), n-p)
		s := scratch[:k]
		if err := read(s, p); err != nil {
			return segData{}, err
		}
		if recycled {
			if mayHoldOwn(s, key, p+k == n) {
				return loadSegment(fs, path, b, true)
			}
			if p+k == n {
				break
			}
			// The next piece starts over the last two record positions of
			// this one, whose headers it did not hold whole.
			p += k - 2*recordAlign
			continue
		}
		if !zeros.All(s) {
			return loadSegment(fs, path, b, true)
		}
		p += k
	}
	return segData{b: b, size: n}, nil
}

// walkData follows the records of a recycled segment from *pos (expecting
// sequence *expect) through the bytes b loaded so far, advancing both. It
// returns done when it reached the end of the data, before the end of b,
// with nothing there that could be a record of this life: the rest of b
// and of the file then only needs searching for such records. It returns
// ok false when the segment must be judged on all of its bytes (something
// of this life that is not a clean continuation), and done false, ok true
// when it needs more bytes (eof: b is the whole file).
func walkData(b []byte, pos *int64, expect *uint64, k segKey, eof bool) (done, ok bool) {
	for {
		rest := b[min(*pos, int64(len(b))):]
		d, err := decodeRecord(rest, k)
		if err == nil && d.Seq == *expect {
			*pos += int64(d.size)
			*expect++
			continue
		}
		switch {
		case err == nil:
			return false, false
		case len(rest) < RecordHeaderLen:
			return eof, true
		case zeros.All(rest[:RecordHeaderLen]):
			return true, true
		}
		// The record's claimed end, if it fits in a segment at all.
		size := int64(len(rest)) + 1
		if n := binary.LittleEndian.Uint32(rest[4:]); n <= 1<<30 {
			size = int64(recordSize(int(n)))
		}
		if size > int64(len(rest)) && !eof && (recordTag(rest) == k.tag || size <= 1<<30) {
			// Perhaps a record cut by the end of what is loaded.
			return false, true
		}
		if ownHeader(rest, k) {
			return false, false
		}
		return true, true
	}
}

// mayHoldOwn reports whether s, a piece of a recycled segment's leftovers
// starting at a record-aligned offset, may hold a record of the life whose
// key is k: a valid one, or a header with k's tag whose record runs past the
// piece (unless final, the piece ending the file).
func mayHoldOwn(s []byte, k segKey, final bool) bool {
	for p := nextTagged(s, 0, k.tag); p >= 0; p = nextTagged(s, p+recordAlign, k.tag) {
		if _, err := decodeRecord(s[p:], k); err == nil {
			return true
		}
		if n := binary.LittleEndian.Uint32(s[p+4:]); !final && int64(p)+int64(recordSize(int(min(n, 1<<30)))) > int64(len(s)) {
			return true
		}
	}
	return false
}

// readSegHeader reads and checks the header block of a segment.
func readSegHeader(fs vfs.FS, seg segment) (segHeader, error) {
	b, err := readHeaderBlock(fs, seg.path)
	if err != nil {
		return segHeader{}, err
	}
	return checkSegHeader(b, seg)
}

// readHeader reads and decodes the header block of the file at path.
func readHeader(fs vfs.FS, path string) (segHeader, error) {
	b, err := readHeaderBlock(fs, path)
	if err != nil {
		return segHeader{}, err
	}
	h, err := decodeSegHeader(b)
	if err != nil {
		return h, fmt.Errorf("%w: %s offset 0: %v", ErrCorrupt, path, err)
	}
	return h, nil
}

// readHeaderBlock reads the header block of the file at path (or less, if
// the file is shorter).
func readHeaderBlock(fs vfs.FS, path string) ([]byte, error) {
	f, err := vfs.Open(fs, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, vfs.DirectAlign)
	n, err := f.ReadAt(b, 0)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("walfile: read %s: %w", path, err)
	}
	b = b[:n]
	if n >= 16 && string(b[:8]) == segmentMagic {
		// A header block larger than one page: read all of it.
		if bs := int(binary.LittleEndian.Uint32(b[12:])); bs > n && bs <= 1<<20 {
			b = make([]byte, bs)
			n, err = f.ReadAt(b, 0)
			if err != nil && err != io.EOF {
				return nil, fmt.Errorf("walfile: read %s: %w", path, err)
			}
			b = b[:n]
		}
	}
	return b, nil
}

// checkSegHeader decodes the header at the start of b and checks it against
// the segment's name.
func checkSegHeader(b []byte, seg segment) (segHeader, error) {
	h, err := decodeSegHeader(b)
	if err != nil {
		return h, fmt.Errorf("%w: segment %s offset 0: %v", ErrCorrupt, seg.name, err)
	}
	if h.firstSeq != seg.first {
		return h, fmt.Errorf("%w: segment %s offset 0: header says first sequence %d", ErrCorrupt, seg.name, h.firstSeq)
	}
	return h, nil
}

// spot is where a segment stops being a valid continuation of the log.
type spot struct {
	off     int64  // where valid data stops: everything from here is cut by a repair
	at      int64  // the first offending byte
	seq     uint64 // the sequence expected at off
	reason  string
	later   int64  // offset of a valid record proving the spot was durable, or -1
	laterSq uint64 // its sequence
	dataEnd int64  // after the last non-zero byte of the segment
}

// segIter walks the records of one loaded segment.
type segIter struct {
	b        []byte
	off      int64
	expect   uint64
	key      segKey
	recycled bool
}

func newSegIter(b []byte, h segHeader) segIter {
	return segIter{b: b, off: int64(h.blockSize), expect: h.firstSeq, key: h.key(), recycled: h.recycled()}
}

// next returns the next valid record and its offset; or end=true at a clean
// end of data; or the spot where the data stops being valid.
//
// In a segment written full of zeros (its first life, or version 1) the
// data ends at a zero record header followed only by zeros. In a recycled
// segment it ends at the first record header that is not of this life (see
// ownHeader) when no record valid under this life's key follows anywhere in
// the segment: what lies after it is left from earlier lives of the file.
func (it *segIter) next(d *decoded) (off int64, sp *spot, end bool) {
	off = it.off
	rest := it.b[min(off, int64(len(it.b))):]
	err := decodeInto(rest, it.key, d)
	switch {
	case err == nil && d.Seq == it.expect:
		it.off += int64(d.size)
		it.expect++
		return off, nil, false
	case err == nil:
		// A valid record in the expected place can only have been written
		// there: it is never a torn write.
		return off, &spot{off: off, at: off, seq: it.expect, later: off, laterSq: d.Seq,
			reason: fmt.Sprintf("sequence %d, want %d", d.Seq, it.expect), dataEnd: it.dataEnd(off)}, false
	case it.recycled && !ownHeader(rest, it.key):
		p := findOwn(it.b, off, it.key)
		if p < 0 {
			return off, nil, true
		}
		return off, &spot{off: off, at: off, seq: it.expect, later: -1,
			reason:  fmt.Sprintf("a record of this segment's life follows at offset %d", p),
			dataEnd: it.dataEnd(off)}, false
	case err == errEnd:
		if zeros.All(rest) {
			return off, nil, true
		}
		at := off
		for at < int64(len(it.b)) && it.b[at] == 0 {
			at++
		}
		return off, &spot{off: off, at: at, seq: it.expect, later: -1,
			reason: "non-zero bytes after the end of the data", dataEnd: it.dataEnd(off)}, false
	default:
		return off, &spot{off: off, at: off, seq: it.expect, later: -1,
			reason: err.Error(), dataEnd: it.dataEnd(off)}, false
	}
}

// dataEnd returns where the bytes a repair must cut from off end. In a
// zero-filled segment: after the last non-zero byte. In a recycled one:
// after the last record valid under this life's key (every one of them must
// be erased, or it could be read back after the records written next), and
// at least after the record header at off.
func (it *segIter) dataEnd(off int64) int64 {
	n := int64(len(it.b))
	if off >= n {
		return n
	}
	if !it.recycled {
		return off + int64(lastNonZero(it.b[off:]))
	}
	end := min(n, off+RecordHeaderLen)
	for p := off; p+RecordHeaderLen <= n; p += recordAlign {
		if d, err := decodeRecord(it.b[p:], it.key); err == nil {
			end = max(end, p+int64(d.size))
		}
	}
	return end
}

// ownHeader reports whether b starts with the header of a record of the
// life whose key is k, valid or damaged: it carries k's tag, or its
// checksum matches once k's tag is put back (a record whose tag alone was
// damaged).
func ownHeader(b []byte, k segKey) bool {
	if len(b) < RecordHeaderLen {
		return false
	}
	h := b[:RecordHeaderLen]
	if zeros.All(h) {
		return false
	}
	if recordTag(h) == k.tag {
		return true
	}
	n := binary.LittleEndian.Uint32(h[4:])
	if uint64(n) > uint64(len(b)-RecordHeaderLen) {
		return false
	}
	size := recordSize(int(n))
	if size > len(b) {
		return false
	}
	var fixed [RecordHeaderLen]byte
	copy(fixed[:], h)
	fixed[21], fixed[22], fixed[23] = byte(k.tag), byte(k.tag>>8), byte(k.tag>>16)
	c := crc32.Update(k.seed, castagnoli, fixed[4:])
	return crc32.Update(c, castagnoli, b[RecordHeaderLen:size]) == binary.LittleEndian.Uint32(h[0:])
}

// findOwn returns the offset of the first record valid under k at or after
// from (at record alignment), or -1.
func findOwn(b []byte, from int64, k segKey) int64 {
	// The tag bytes first: leftovers of other lives rarely carry them.
	for p := nextTagged(b, int(from), k.tag); p >= 0; p = nextTagged(b, p+recordAlign, k.tag) {
		if _, err := decodeRecord(b[p:], k); err == nil {
			return int64(p)
		}
	}
	return -1
}

// nextTagged returns the first offset at or after p, in steps of
// recordAlign, where a record header fits in b and carries tag in its tag
// bytes (21..23), or -1. It compares one word per offset, four offsets per
// step: searching the leftovers of a recycled segment on Open is this loop.
func nextTagged(b []byte, p int, tag uint32) int {
	const mask = uint64(tagMask) << 40
	want := uint64(tag) << 40
	for ; p+RecordHeaderLen+3*recordAlign <= len(b); p += 4 * recordAlign {
		w := b[p+16 : p+16+4*recordAlign]
		switch {
		case binary.LittleEndian.Uint64(w[0:])&mask == want:
			return p
		case binary.LittleEndian.Uint64(w[8:])&mask == want:
			return p + recordAlign
		case binary.LittleEndian.Uint64(w[16:])&mask == want:
			return p + 2*recordAlign
		case binary.LittleEndian.Uint64(w[24:])&mask == want:
			return p + 3*recordAlign
		}
	}
	for ; p+RecordHeaderLen <= len(b); p += recordAlign {
		if binary.LittleEndian.Uint64(b[p+16:])&mask == want {
			return p
		}
	}
	return -1
}

// classify looks past a spot for a valid record that proves the spot was
// durable: one whose batch started after the expected sequence, or one with
// a sequence below it (see doc.go). It sets sp.later. Only records valid
// under the segment's key count: leftovers of earlier lives of a recycled
// file prove nothing.
func classify(b []byte, sp *spot, k segKey) {
	if sp.later >= 0 {
		return
	}
	for q := nextTagged(b, int(sp.off), k.tag); q >= 0; q = nextTagged(b, q+recordAlign, k.tag) {
		p := int64(q)
		if h := b[p : p+RecordHeaderLen]; h[0]|h[1]|h[2]|h[3] == 0 && zeros.All(h) {
			continue
		}
		d, err := decodeRecord(b[p:], k)
		if err != nil {
			continue
		}
		if d.Seq < sp.seq || d.batchStart() > sp.seq {
			sp.later, sp.laterSq = p, d.Seq
			return
		}
	}
}

// corruptErr describes a spot as corruption of segment name.
func corruptErr(name string, sp *spot) error {
	if sp.later >= 0 && sp.later != sp.off {
		return fmt.Errorf("%w: segment %s offset %d: %s (a record of a later batch, sequence %d, follows at offset %d)",
			ErrCorrupt, name, sp.at, sp.reason, sp.laterSq, sp.later)
	}
	return fmt.Errorf("%w: segment %s offset %d: %s", ErrCorrupt, name, sp.at, sp.reason)
}

// SegmentInfo describes one segment.
type SegmentInfo struct {
	Name     string `json:"name"`
	Size     int64  `json:"size_bytes"`
	FirstSeq uint64 `json:"first_seq"`
	// LastSeq is the sequence of the last valid record, FirstSeq-1 when the
	// segment holds none. Zero when the segment was not scanned.
	LastSeq uint64 `json:"last_seq"`
	Records int64  `json:"records"`
	// End is the offset after the last valid record.
	End     int64 `json:"end_offset"`
	Scanned bool  `json:"scanned"`
	// BlockSize is the block size in the segment's header (0 when the
	// header was not read).
	BlockSize int `json:"block_size"`
	// Epoch is the life of the segment's file (1: its first, zero-filled;
	// more: recycled; 0: a version 1 segment or not scanned).
	Epoch uint64 `json:"epoch"`
}

// Damage is where the log stops being whole.
type Damage struct {
	// Segment is the file name of the damaged segment.
	Segment string `json:"segment"`
	// Offset is where valid data stops; a repair cuts from here.
	Offset int64 `json:"offset"`
	// Seq is the sequence that should have been at Offset.
	Seq uint64 `json:"seq"`
	// Torn is true for a torn tail (Open cuts it), false for corruption.
	Torn bool `json:"torn"`
	// Bytes is how many bytes from Offset on are not zero-filled.
	Bytes int64 `json:"bytes"`
	// Reason says what was found.
	Reason string `json:"reason"`
	// Err is the ErrCorrupt error for corruption; nil for a torn tail.
	Err error `json:"-"`

	segIndex int
	wholeSeg bool // the segment itself is bad (header, sequence gap)
}

// Report is what Inspect found.
type Report struct {
	Dir      string        `json:"dir"`
	Segments []SegmentInfo `json:"segments"`
	// FirstSeq and LastSeq bound the valid records (LastSeq = FirstSeq-1
	// when there are none); Records counts them.
	FirstSeq uint64  `json:"first_seq"`
	LastSeq  uint64  `json:"last_seq"`
	Records  int64   `json:"records"`
	Damage   *Damage `json:"damage,omitempty"`
}

// scanLog checks the log in dir. With full set it reads every segment;
// otherwise it checks every header and reads only the last segment, which is
// what Open needs. It returns an error only when the files cannot be read;
// damage is described in the report. buf holds the bytes of the last
// segment it read (the damaged one, if any), to cut a torn tail from: a
// private, writable mapping of the file or a buffer. The caller calls
// release once done with buf, whatever the error; it is never nil.
func scanLog(fs vfs.FS, dir string, full bool) (r *Report, buf []byte, release func(), err error) {
	var unmap func()
	release = func() {
		if unmap != nil {
			unmap()
			unmap = nil
		}
	}
	segs, _, err := listSegments(fs, dir)
	if err != nil {
		return nil, nil, release, err
	}
	r = &Report{Dir: dir}
	expect := uint64(0) // the sequence the next segment must start at, 0 if unknown
	for i, seg := range segs {
		last := i == len(segs)-1
		size, _, err := fs.Stat(seg.path)
		if err != nil {
			return nil, nil, release, err
		}
		info := SegmentInfo{Name: seg.name, Size: size, FirstSeq: seg.first}
		r.Segments = append(r.Segments, info)
		if r.Damage != nil {
			continue
		}
		if i == 0 {
			r.FirstSeq, r.LastSeq = seg.first, seg.first-1
		}
		if expect != 0 && seg.first != expect {
			r.Damage = &Damage{Segment: seg.name, Seq: expect, segIndex: i, wholeSeg: true,
				Reason: fmt.Sprintf("sequence gap: segment starts at %d, want %d", seg.first, expect)}
			r.Damage.Err = fmt.Errorf("%w: segment %s offset 0: %s", ErrCorrupt, seg.name, r.Damage.Reason)
			continue
		}
		if i > 0 && seg.first <= segs[i-1].first {
			// Cannot happen with sorted, distinct names; kept as a guard.
			return nil, nil, release, fmt.Errorf("walfile: segments out of order at %s", seg.name)
		}
		if !full && !last {
			if _, err := readSegHeader(fs, seg); err != nil {
				r.Damage = &Damage{Segment: seg.name, Seq: seg.first, segIndex: i, wholeSeg: true, Reason: err.Error(), Err: err}
			}
			continue
		}
		var sd segData
		if m, um, ok := mapSegment(fs, seg.path, true); ok {
			// The whole file in place: no buffer to zero and fill, and the
			// zeroed end is checked where it lies in the page cache.
			release()
			unmap = um
			buf, sd = nil, segData{b: m, size: int64(len(m)), complete: true}
		} else {
			if unmap != nil {
				release()
				buf = nil // a mapping, not a buffer to reuse
			}
			if sd, err = loadSegment(fs, seg.path, buf, false); err != nil {
				return nil, nil, release, err
			}
		}
	rescan:
		buf = sd.b
		h, err := checkSegHeader(buf, seg)
		if err != nil {
			r.Damage = &Damage{Segment: seg.name, Seq: seg.first, segIndex: i, wholeSeg: true, Reason: err.Error(), Err: err, Bytes: int64(lastNonZero(buf))}
			continue
		}
		it := newSegIter(buf, h)
		info.Scanned = true
		info.BlockSize = h.blockSize
		info.Epoch = h.epoch
		info.LastSeq = seg.first - 1
		var d decoded
		for {
			off, sp, end := it.next(&d)
			if end {
				info.End = off
				break
			}
			if sp != nil {
				if !sd.complete {
					// Judge damage on the whole file.
					if sd, err = loadSegment(fs, seg.path, buf, true); err != nil {
						return nil, nil, release, err
					}
					info = SegmentInfo{Name: seg.name, Size: size, FirstSeq: seg.first}
					goto rescan
				}
				info.End = sp.off
				classify(buf, sp, it.key)
				dm := &Damage{Segment: seg.name, Offset: sp.off, Seq: sp.seq, Bytes: sp.dataEnd - sp.off,
					Reason: sp.reason, segIndex: i}
				if last && sp.later < 0 {
					dm.Torn = true
				} else {
					dm.Err = corruptErr(seg.name, sp)
					dm.Reason = dm.Err.Error()
				}
				r.Damage = dm
				break
			}
			_ = d
			info.LastSeq = d.Seq
			info.Records++
		}
		r.Segments[i] = info
		r.Records += info.Records
		r.LastSeq = info.LastSeq
		expect = info.LastSeq + 1
	}
	return r, buf, release, nil
}

// List returns the segments of the log in dir, from their names and sizes,
// without reading them.
func List(dir string, opts Options) ([]SegmentInfo, error) {
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	segs, _, err := listSegments(opts.FS, dir)
	if err != nil {
		return nil, err
	}
	out := make([]SegmentInfo, 0, len(segs))
	for _, s := range segs {
		size, _, err := opts.FS.Stat(s.path)
		if err != nil {
			return nil, err
		}
		out = append(out, SegmentInfo{Name: s.name, Size: size, FirstSeq: s.first})
	}
	return out, nil
}
