package walfile

import (
	"fmt"
	"io"

	"github.com/cowbook/cowbook/internal/vfs"
)

// Reader reads records in sequence order. It checks every record's CRC and
// that sequences are contiguous, within and across segments. It reads one
// segment into memory at a time.
type Reader struct {
	fs     vfs.FS
	segs   []segment
	i      int // segment being read; -1 before the first
	buf    []byte
	it     segIter
	cur    decoded // the record next decoded
	loaded bool
	// complete is set when buf holds the whole segment, not only a prefix
	// followed by zeros.
	complete bool
	from     uint64
	expect   uint64 // sequence of the next record, 0 before the first
	limit    uint64
	bounded  bool
	torn     *Damage
	err      error
	// unmap releases the mapping buf is (nil when buf was read); prevUnmap
	// the previous segment's, kept one segment longer so that a record
	// returned just before a segment switch stays readable a little past
	// its contract.
	unmap, prevUnmap func()
}

// NewReader returns a reader of the log in dir from sequence from (0: the
// first record on disk). It does not modify the log: a torn tail ends the
// reading with io.EOF (see TornTail), corruption with ErrCorrupt. Use it on a
// log no Log has open, or through Log.NewReader, which stops at the durable
// sequence.
func NewReader(dir string, opts Options, from uint64) (*Reader, error) {
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	segs, _, err := listSegments(opts.FS, dir)
	if err != nil {
		return nil, err
	}
	r := &Reader{fs: opts.FS, segs: segs, from: from}
	if len(segs) == 0 {
		if from > 1 {
			return nil, fmt.Errorf("%w: log in %s is empty, cannot read from %d", ErrSequence, dir, from)
		}
		r.i = 0
		return r, nil
	}
	if from != 0 && from < segs[0].first {
		return nil, fmt.Errorf("%w: log in %s starts at %d, after %d", ErrSequence, dir, segs[0].first, from)
	}
	// Start with the last segment whose first sequence is ≤ from.
	for r.i+1 < len(segs) && segs[r.i+1].first <= from {
		r.i++
	}
	return r, nil
}

// Next returns the next record, io.EOF after the last one, or an error
// wrapping ErrCorrupt. Record.Payload is valid until the next call.
func (r *Reader) Next() (Record, error) {
	if r.err != nil {
		return Record{}, r.err
	}
	if err := r.next(); err != nil {
		r.err = err
		return Record{}, err
	}
	return r.cur.Record, nil
}

// next decodes the next record into r.cur.
func (r *Reader) next() error {
	for {
		if r.bounded && (r.expect > r.limit || r.limit < max(r.from, 1)) {
			// Nothing at or after from is durable yet; bytes past the
			// durable sequence may be a write in progress.
			return io.EOF
		}
		if r.i >= len(r.segs) {
			return r.atEnd()
		}
		seg := r.segs[r.i]
		if !r.loaded {
			if r.expect != 0 && seg.first != r.expect {
				return fmt.Errorf("%w: segment %s offset 0: sequence gap: segment starts at %d, want %d", ErrCorrupt, seg.name, seg.first, r.expect)
			}
			r.release()
			if m, unmap, ok := mapSegment(r.fs, seg.path, false); ok {
				r.buf, r.complete, r.unmap = m, true, unmap
			} else {
				if r.prevUnmap != nil {
					r.buf = nil // the last segment's mapping, not a buffer to reuse
				}
				sd, err := loadSegment(r.fs, seg.path, r.buf, false)
				if err != nil {
					return err
				}
				r.buf, r.complete = sd.b, sd.complete
			}
			h, err := checkSegHeader(r.buf, seg)
			if err != nil {
				return err
			}
			r.it = newSegIter(r.buf, h)
			r.loaded = true
		}
		d := &r.cur
		_, sp, end := r.it.next(d)
		switch {
		case end:
			r.i++
			r.loaded = false
			r.expect = r.it.expect
			continue
		case sp != nil && !r.complete:
			// Judge damage on the whole file; the prefix read so far
			// is the same.
			sd, err := loadSegment(r.fs, seg.path, r.buf, true)
			if err != nil {
				return err
			}
			r.buf, r.complete = sd.b, true
			r.it.b = sd.b
			continue
		case sp != nil:
			classify(r.buf, sp, r.it.key)
			if r.i == len(r.segs)-1 && sp.later < 0 {
				r.torn = &Damage{Segment: seg.name, Offset: sp.off, Seq: sp.seq, Torn: true,
					Bytes: sp.dataEnd - sp.off, Reason: sp.reason}
				r.expect = sp.seq
				r.i = len(r.segs)
				return r.atEnd()
			}
			return corruptErr(seg.name, sp)
		}
		r.expect = d.Seq + 1
		if d.Seq < r.from {
			continue
		}
		if r.bounded && d.Seq > r.limit {
			return io.EOF
		}
		return nil
	}
}

// atEnd is the end of the records on disk: io.EOF, unless the reader was
// asked to start beyond them.
func (r *Reader) atEnd() error {
	if r.from > r.expect && r.expect != 0 {
		return fmt.Errorf("%w: log ends before sequence %d (next would be %d)", ErrSequence, r.from, r.expect)
	}
	return io.EOF
}

// TornTail returns the torn tail that ended the reading, or nil.
func (r *Reader) TornTail() *Damage { return r.torn }

// release moves the current segment's mapping, if any, to prevUnmap,
// unmapping the one before it.
func (r *Reader) release() {
	if r.prevUnmap != nil {
		r.prevUnmap()
	}
	r.prevUnmap, r.unmap = r.unmap, nil
}

// Close releases the reader's buffer or mappings.
func (r *Reader) Close() error {
	r.release()
	r.release()
	r.buf = nil
	r.err = ErrClosed
	return nil
}
