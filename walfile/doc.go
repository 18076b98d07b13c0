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
//   - batch says how far the log was durable when the record was written:
//     seq-batch-1 is a sequence that an fdatasync had made durable (and the
//     log had acknowledged) before the write holding this record was issued.
//     The worker that seals a batch sets it, before the batch is written, to
//     seq minus one minus the durable sequence then; a log written before
//     writes overlapped fdatasyncs set it to seq minus the first sequence of
//     its batch, which means the same. This is what tells a torn tail from
//     corruption, below.
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
// Appenders encode records (everything but the batch field and checksum)
// into one of three aligned buffers. Three I/O workers share three roles,
// each held by one worker at a time. Sealing: take everything appended since
// the last batch was taken (a batch) and set its records' batch fields and
// checksums. Writing: write the oldest sealed batch with one O_DIRECT pwrite
// of whole blocks at a block-aligned offset. Syncing: one fdatasync, after
// which every record whose write had returned before the fdatasync began is
// published as durable. So a batch can be sealed while the previous one is
// written and the ones before are synced, and one fdatasync covers every
// batch written before it. The last block of a batch is usually only partly
// filled; the next batch starts by rewriting that same block at the same
// offset with the same leading bytes and more records after them, so bytes
// that are already written are only ever overwritten with identical bytes.
// Writes never overlap each other, and a new segment is installed only once
// every record written to the previous one is durable.
//
// After a crash, only records that were not yet durable when the last write
// was issued can be damaged: those of the batch being synced and of the
// batches written meanwhile. Every record says, in its batch field, how far
// the log was durable when it was written.
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
// The reasoning: a record with seq-batch > E was written after an fdatasync
// had made sequence E durable, so the spot held an acknowledged record and
// is corruption. Valid records after the spot that do not prove this were
// written while the spot's record was not yet durable: they are leftovers of
// the torn writes (any subset of their sectors may have reached the disk)
// and are cut with it; none of them was acknowledged, since each is after
// E. Anything bad in a segment other than the last, a bad segment header,
// and a gap or overlap in sequences between segments are corruption too. Corruption is reported as ErrCorrupt naming the segment
// and offset and is never truncated away, except by Repair with force.
//
// One case cannot be told apart: damage confined to the records that no
// later record proves durable (the last few batches of the log: the last
// one synced and those written while it was being synced; say a bit flip in
// them after they were acknowledged) looks exactly like a torn write of
// them, and is cut as a torn tail. The cut bytes are kept in a .broken file
// and Open reports them (Log.Recovery), so the loss is visible.
//
// # Reading a segment
//
// A segment is read in 1 MiB chunks up to the first chunk past the header
// block that is all zeros; the rest of the file is only checked to be zero,
// read in 4 MiB pieces into a scratch buffer. So a restart reads the zeroed
// end of the last segment but does not keep it in memory. The rules above
// are applied to the whole file all the same: if any byte of the rest is not
// zero, or anything but a clean end is found in the prefix (a bad record, a
// record running past it), the whole segment is loaded before it is judged.
//
// # Why segments are zero-filled, not recycled
//
// Every segment is written twice: zeros by the file pipeline, then records.
// Under a sustained load that saturates the disk the zeros take about half
// of its bandwidth. Reusing obsolete segments without zeroing them (as
// RocksDB's recyclable log does, salting each record's checksum with the
// file's epoch so that records from its previous life fail it) was weighed
// and not done: the end of the data would no longer be followed by zeros, so
// "non-zero bytes after the end" would stop being a check, every open would
// have to search the whole rest of the last segment for valid records to
// tell a torn tail from corruption, and cutting a torn tail would have to
// find and erase every leftover valid record of the torn writes, anywhere in
// the segment, so that none is ever read back as the continuation of the new
// records. Instead, Options.PreparedSegments keeps several zero-filled
// segments ready, so that bursts up to that size are written at the disk's
// full speed while the pipeline refills between them.
//
// A torn tail is cut by copying the cut bytes to <segment>.broken (fsynced,
// directory fsynced) and then writing zeros over them and fdatasyncing, all
// before the first new append; new records then continue the sequence from
// the last whole record.
package walfile
