package walfile

import (
	"fmt"

	"github.com/cowbook/cowbook/internal/vfs"
)

// Options configures a Log. The zero value of every field means its default;
// EnsureDefaults fills them in.
type Options struct {
	// FS is the filesystem. Zero: vfs.OS.
	FS vfs.FS
	// SegmentSize is the size of new segments in bytes, a multiple of
	// BlockSize. Existing segments keep the size they were created with.
	// Zero: 64 MiB.
	SegmentSize int64
	// BlockSize is the unit of writes and the size of a segment's header
	// block, a multiple of 4096. An existing log keeps the block size of its
	// last segment. Zero: 4096.
	BlockSize int
	// MaxBatch bounds the bytes of records one write takes; it is also how
	// much Append buffers before it waits for the disk (each of the three
	// write buffers holds MaxBatch bytes plus two blocks). Under a
	// saturating load a batch grows to it, and each batch pays one
	// fdatasync, which on a virtual disk costs the device as much time as
	// writing hundreds of KiB: batches of 4 MiB rather than 1 MiB give a
	// saturating producer about a third more bandwidth (BENCHMARKS.md,
	// ## walfile). Under a light load batches stay small whatever it is.
	// Zero: 4 MiB less two blocks, so that a write buffer fills two huge
	// pages exactly.
	MaxBatch int
	// PreparedSegments is how many segments the file pipeline keeps ready
	// ahead of the writer (recycled files when the recycle pool has them,
	// zero-filled ones otherwise). While at least one is ready and the log
	// is writing, the pipeline waits before each chunk of zeros, so a burst
	// of up to this many segments is written without zeros competing for
	// the disk. Zero: 1.
	PreparedSegments int
	// RecycleSegments bounds the recycle pool: segments that TruncateBefore
	// drops are kept, up to this many, under a recycle name, and the file
	// pipeline reuses them for new segments instead of writing a new file
	// full of zeros (see doc.go); beyond it they are removed. Negative: no
	// pool, every dropped segment is removed. Zero: 4.
	RecycleSegments int
	// FirstSeq is the sequence of the first record of a new, empty log.
	// Ignored when the log already holds segments. Zero: 1.
	FirstSeq uint64
	// OnDurable, when set, is called by the I/O worker that made records
	// durable each time the durable sequence advances, with the new value,
	// before Durable's channel is signalled. Calls never overlap and their
	// values increase. It saves the caller a goroutine wake-up; it
	// must return quickly and must not call the Log's methods that wait
	// (Append may wait for the writer: it would deadlock). Zero: none.
	OnDurable func(seq uint64)
	// PinWriter, when set, is called on each of the log's three I/O
	// worker goroutines (they checksum, write and fdatasync), locked to its
	// OS thread, before it writes anything: the node passes its CPU
	// placement (placement.Options.PinWriterThread has this signature). An
	// error fails Open; each release is called when its worker exits.
	// Zero: the workers run wherever the Go scheduler puts them.
	PinWriter func() (release func() error, err error)
	// AfterWrite, when set, is called by the I/O worker that wrote a batch,
	// after its write returned and before any fdatasync that covers it
	// starts. It is a hook for fault-injection and kill tests (stop the
	// process with records written but not durable); it must not call the
	// Log's methods. Zero: none.
	AfterWrite func()
	// Buffered turns O_DIRECT off, for filesystems that do not support it
	// (tmpfs). Durability still comes from fdatasync. Zero: O_DIRECT.
	Buffered bool
}

// MaxPreparedSegments bounds Options.PreparedSegments.
const MaxPreparedSegments = 64

// EnsureDefaults returns o with every zero field set to its default, and an
// error if a field is invalid.
func (o Options) EnsureDefaults() (Options, error) {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.BlockSize == 0 {
		o.BlockSize = vfs.DirectAlign
	}
	if o.SegmentSize == 0 {
		o.SegmentSize = 64 << 20
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 4<<20 - 2*o.BlockSize
	}
	if o.PreparedSegments == 0 {
		o.PreparedSegments = 1
	}
	if o.RecycleSegments == 0 {
		o.RecycleSegments = 4
	}
	if o.FirstSeq == 0 {
		o.FirstSeq = 1
	}
	switch {
	case o.BlockSize < 0 || o.BlockSize%vfs.DirectAlign != 0 || o.BlockSize > 1<<20:
		return o, fmt.Errorf("walfile: BlockSize %d is not a multiple of %d up to 1 MiB", o.BlockSize, vfs.DirectAlign)
	case o.SegmentSize%int64(o.BlockSize) != 0 || o.SegmentSize < 4*int64(o.BlockSize):
		return o, fmt.Errorf("walfile: SegmentSize %d is not a multiple of BlockSize %d of at least 4 blocks", o.SegmentSize, o.BlockSize)
	case o.MaxBatch < RecordHeaderLen || o.MaxBatch > 1<<30:
		return o, fmt.Errorf("walfile: MaxBatch %d out of range", o.MaxBatch)
	case o.RecycleSegments > 1024:
		return o, fmt.Errorf("walfile: RecycleSegments %d out of range", o.RecycleSegments)
	case o.PreparedSegments < 0 || o.PreparedSegments > MaxPreparedSegments:
		return o, fmt.Errorf("walfile: PreparedSegments %d out of range", o.PreparedSegments)
	}
	return o, nil
}

// directFlag returns the flag segments are opened with.
func (o *Options) directFlag() int {
	if o.Buffered {
		return 0
	}
	return vfs.ODirect
}
