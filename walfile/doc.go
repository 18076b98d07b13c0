// Package walfile is cowbook's write-ahead log: every command is appended
// here, under a sequence number, and made durable before anything it causes
// becomes visible.
//
// # Files
//
// A log lives in one directory (the node uses <data>/wal). Its segments are
// named after the sequence of their first record, zero-padded so that names
// sort in log order:
//
//	00000000000000000001.wal        records 1 … 4711
//	00000000000000004712.wal        records 4712 …
//	prealloc-3.tmp                  a segment being prepared (never holds records)
//	00000000000000004712.wal.broken bytes cut from a torn tail, kept for inspection
//	LOCK                            flocked by the process that has the log open
//
// A segment is created by a background goroutine (the file pipeline) before
// the current one fills: the file is written full of zeros and fsynced, so
// that later fdatasyncs never allocate blocks or change the file size (an
// unwritten-extent file costs a journal commit on every fdatasync). When the
// log moves to it, the writer writes its header block and fdatasyncs, renames
// it to its final name and fsyncs the directory; only then does it write
// records into it. Segments that only hold records before a snapshot are
// removed by TruncateBefore, oldest first, so the remaining log is always
// contiguous.
//
// # Segment layout
//
// All integers are little-endian. Every constant marked "wire format" in
// format.go is part of this layout and may only change with FormatVersion.
//
//	offset 0                                                  header block (BlockSize bytes)
//	+---------+---------+-----------+-----------+-----------+-----------+
//	| magic   | version | blocksize | reserved  | first seq | crc32c    |  then zeros up to
//	| 8 bytes | u32     | u32       | u32 = 0   | u64       | u32       |  BlockSize
//	+---------+---------+-----------+-----------+-----------+-----------+
//	  "cowbWAL\0"  = 1     4096·k                   = name      over bytes 0..28
//
//	offset BlockSize                                           records, back to back
//	+--------+--------+--------+--------+-----+--------+---------+---------+--------+
//	| crc32c | length | seq    | batch  | typ | zero   | payload | padding | next … |
//	| u32    | u32    | u64    | u32    | u8  | 3 bytes| length  | to 8    |        |
//	+--------+--------+--------+--------+-----+--------+---------+---------+--------+
//	 0        4        8        16       20    21       24
//
//	 … records … | 00 00 00 00 00 …  (the zeroed, preallocated rest of the segment)
//
// The record fields:
//
//   - crc32c (Castagnoli) covers every byte of the record after itself: the
//     rest of the header, the payload and the zero padding.
//   - seq is the record's sequence. Sequences are contiguous: each record's
//     is the previous one's plus one, across segments too, and a segment's
//     first record carries the sequence in its header and name.
//   - batch is seq minus the sequence of the first record of the group commit
//     (one write followed by one fdatasync) that wrote it. A batch never
//     spans segments. This is what tells a torn tail from corruption, below.
//   - Records are 8-byte aligned, so the checksum and length (the first 8
//     bytes) never straddle a 512-byte sector; the rest of a record may
//     straddle sectors and 4 KiB blocks.
//   - A record header of 24 zero bytes ends the data: no record has sequence
//     0. Everything after it in the segment must be zero.
//   - A segment ends where the next record would not fit; the next record is
//     the first of the next segment.
//
// # Writing
//
// Appenders encode records into one of two aligned buffers. A single writer
// goroutine takes everything appended while the previous write+fdatasync was
// in flight, writes it with one O_DIRECT pwrite of whole 4 KiB blocks at a
// block-aligned offset, fdatasyncs, and then publishes the new durable
// sequence. The last block of a batch is usually only partly filled; the
// next batch starts by rewriting that same block at the same offset with the
// same leading bytes and more records after them, so bytes that are already
// durable are only ever overwritten with identical bytes. The writer never
// has more than one batch in flight, so after a crash only the bytes of the
// last batch can be damaged.
//
// A failed write or fdatasync is never retried (after a failed fdatasync the
// kernel may have dropped the dirty pages and reports success next time): the
// log turns unusable, every waiter and every later call gets ErrFailed.
//
// # Torn tail or corruption
//
// Reading a segment stops at the first spot that is not a valid record
// continuing the sequence (bad CRC, impossible length, non-zero bytes after
// the end marker, a sequence other than expected). With E the sequence the
// spot should have held, it is a torn tail, cut on Open, if and only if
//
//   - the spot is in the last segment, and
//   - no valid record after it, anywhere in that segment, has a batch that
//     started after E (seq-batch > E) or a sequence below E.
//
// The reasoning: batch k+1 is only written after batch k's fdatasync
// returned, so a record of a later batch on disk proves that the batch
// holding the spot was durable and acknowledged, and the spot is corruption.
// Valid records after the spot that belong to the same batch are leftovers
// of the torn write (any subset of its sectors may have reached the disk)
// and are cut with it. Anything bad in a segment other than the last, a bad
// segment header, and a gap or overlap in sequences between segments are
// corruption too. Corruption is reported as ErrCorrupt naming the segment
// and offset and is never truncated away, except by Repair with force.
//
// One case cannot be told apart: damage confined to the last batch of the
// log (say a bit flip in it after it was acknowledged) looks exactly like a
// torn write of that batch, and is cut as a torn tail. The cut bytes are kept
// in a .broken file and Open reports them (Log.Recovery), so the loss is
// visible.
//
// A torn tail is cut by copying the cut bytes to <segment>.broken (fsynced,
// directory fsynced) and then writing zeros over them and fdatasyncing, all
// before the first new append; new records then continue the sequence from
// the last whole record.
package walfile
