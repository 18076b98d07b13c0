package walfile

import "errors"

var (
	// ErrCorrupt is returned when the log holds bytes that are not a valid
	// continuation of it anywhere but in a torn tail: a bad record followed
	// by a record of a later batch, damage in a segment other than the last,
	// a bad segment header, or a gap or overlap in sequences. It is wrapped
	// with the segment and offset; Repair with force is the only way past it.
	ErrCorrupt = errors.New("walfile: corrupt log")
	// ErrClosed is returned by calls on a closed Log, and to waiters whose
	// sequence was not durable when Close returned.
	ErrClosed = errors.New("walfile: log closed")
	// ErrFailed is returned once a write, fdatasync or segment switch of the
	// log has failed. It wraps the cause. The log is then unusable: nothing
	// is retried, no further sequence becomes durable, and the node must stop
	// and recover from disk.
	ErrFailed = errors.New("walfile: log failed")
	// ErrTooLarge is returned by Append when a record cannot fit in one batch
	// (Options.MaxBatch) or one segment.
	ErrTooLarge = errors.New("walfile: record too large")
	// ErrSequence is returned by AppendSeq when the sequence given is not the
	// next one, and by TruncateBefore or a reader for a sequence the log does
	// not hold.
	ErrSequence = errors.New("walfile: unexpected sequence")
)

// ErrTornTail is returned by Verify when the log ends in a torn tail: the
// last group commit was cut short by a crash. Nothing acknowledged is in it;
// Open cuts it.
var ErrTornTail = errors.New("walfile: torn tail")

// ErrLocked is returned by Open and Repair when another process holds the
// log directory's lock: two writers on one log would interleave records.
var ErrLocked = errors.New("walfile: log is locked by another process")
