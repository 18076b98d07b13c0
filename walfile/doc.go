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
//	00000000000000000001.wal         records 1 … 4711
//	00000000000000004712.wal         records 4712 …
//	prealloc-3.tmp                   a segment prepared or being prepared (never holds records)
//	00000000000000004712.wal.broken  bytes cut from a torn tail, kept for inspection
//	00000000000000000001.wal.recycle a dropped segment's file in the recycle pool
//	LOCK                             flocked by the process that has the log open
//
// A segment is prepared by a background goroutine (the file pipeline) before
// the current one fills. Its file is either taken from the recycle pool
// (below) or created and written full of zeros and fsynced; either way it
// is fully written, so later fdatasyncs never allocate blocks or change the
// file size (an unwritten-extent file costs a journal commit on every
// fdatasync). When the log moves to it, the writer writes its header block
// (with the file's new epoch) and fdatasyncs, renames it to its final name
// and fsyncs the directory; only then does it write records into it.
// A zero-filled segment prepared and not yet used stays when the log is
// closed or its process dies, and the next Open uses it (after checking its
// size and fsyncing it) rather than write another one while the node
// recovers, unless the recycle pool has files: a prepared file is created
// empty and only ever written with zeros. The first segment of a new log,
// prepared as prealloc-first.tmp, gets its header under that name, so that
// one is removed, as is any file cut short.
// Segments that only hold records before a snapshot are dropped by
// TruncateBefore, oldest first, so the remaining log is always contiguous.
//
// # Segment layout
//
// All integers are little-endian. Every constant marked "wire format" in
// format.go is part of this layout and may only change with FormatVersion.
//
//	offset 0                                                        header block (BlockSize bytes)
//	+---------+---------+-----------+-----------+-----------+---------+-----------+
//	| magic   | version | blocksize | reserved  | first seq | epoch   | crc32c    |  then zeros
//	| 8 bytes | u32     | u32       | u32 = 0   | u64       | u64     | u32       |  up to
//	+---------+---------+-----------+-----------+-----------+---------+-----------+  BlockSize
//	  "cowbWAL\0"  = 2     4096·k                   = name      ≥ 1       over bytes 0..36
//	 0         8         12          16          20          28        36          40
//
//	offset BlockSize                                           records, back to back
//	+--------+--------+--------+--------+-----+---------+---------+---------+--------+
//	| crc32c | length | seq    | batch  | typ | tag     | payload | padding | next … |
//	| u32    | u32    | u64    | u32    | u8  | 3 bytes | length  | to 8    |        |
//	+--------+--------+--------+--------+-----+---------+---------+---------+--------+
//	 0        4        8        16       20    21        24
//
//	 … records … | 00 … to the end of the block | the rest of the segment:
//	                zeros (first life) or leftovers of earlier lives (recycled)
//
// The epoch numbers the lives of a segment file: 1 when the file is created
// and written full of zeros, and one more (skipping any whose low 24 bits are
// zero) each time the file is reused from the recycle pool; the pipeline
// reads it from the header the file had in its previous life. So within one
// file no two lives ever share an epoch, which is all the epoch is for:
// records are never copied between files. It is deterministic (no random
// source to trust or seed in tests) and needs no counter kept anywhere else.
// A pooled file whose header does not decode is not reused but removed,
// since the next epoch could not be known.
//
// The record fields:
//
//   - crc32c (Castagnoli) is seeded with the segment's epoch: it is the
//     CRC32C of the epoch's 8 little-endian bytes followed by every byte of
//     the record after the checksum field (the rest of the header, the
//     payload and the zero padding). A record left in a recycled file by an
//     earlier life fails it.
//   - tag is the low 24 bits of the segment's epoch. It tells a damaged
//     record of this life (tag right, or checksum right once the tag is put
//     back) from a leftover of an earlier life, without which a torn record
//     could not be told from the end of the data.
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
//   - In a segment in the first life of its file, a record header of 24
//     zero bytes ends the data (no record has sequence 0), and everything
//     after it in the segment must be zero.
//   - In a recycled segment (epoch ≥ 2) the data ends at the first record
//     header that is not of this life (zeros, or another life's tag) when no
//     record valid under this epoch follows anywhere in the segment. The
//     writer zero-pads the last block it writes, so leftovers only start at
//     a block boundary.
//   - A segment ends where the next record would not fit; the next record is
//     the first of the next segment.
//
// Version 1 segments (header of 32 bytes with the checksum at 28, no epoch,
// tag bytes zero, unseeded checksums) are still read, repaired and appended
// to as segments in the first life of their file with epoch 0; new segments
// are version 2. A version 1 file reused from the pool gets epoch 2. So an
// existing log opens as it is; it needs no conversion.
//
// # Writing
//
// Appenders encode records (everything but the batch field, tag and
// checksum) into one of three aligned buffers. Three I/O workers share three
// roles, each held by one worker at a time. Sealing: take everything
// appended since the last batch was taken (a batch) and set its records'
// batch fields, tags and checksums; a batch that starts a new segment first
// takes the segment's file from the pipeline, since the checksums depend on
// the file's epoch. Writing: write the oldest sealed batch with one O_DIRECT pwrite
// of whole blocks at a block-aligned offset. Syncing: one fdatasync, after
// which every record whose write had returned before the fdatasync began is
// published as durable. So a batch can be sealed while the previous one is
// written and the ones before are synced, and one fdatasync covers every
// batch written before it. A batch is taken as soon as the writer is free,
// or while it writes once half of MaxBatch has been appended, so that under
// load batches stay large. The last block of a batch is usually only partly
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
// the end marker in a first-life segment, a record of this life after the
// end in a recycled one, a sequence other than expected). Only records valid
// under the segment's epoch count as records anywhere in these rules:
// leftovers of earlier lives are never records, never damage and never
// proof. With E the sequence the spot should have held, it is a torn tail,
// cut on Open, if and only if
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
// and Open reports them (Log.Recovery), so the loss is visible. In a
// recycled segment one narrower case is not even reported: damage that
// destroys the header of the very last record (its tag and checksum both)
// makes it look like a leftover of an earlier life, so the log ends before
// it; a zeroed header in a first-life segment is the same case. Damage to
// the leftovers after the data of a recycled segment is not detected and
// changes nothing that is read.
//
// # Reading a segment
//
// A first-life segment is read in 1 MiB chunks up to the first chunk past
// the header block that is all zeros; the rest of the file is only checked
// to be zero, read in 4 MiB pieces into a scratch buffer. So a restart reads
// the zeroed end of the last segment but does not keep it in memory. The
// rules above are applied to the whole file all the same: if any byte of the
// rest is not zero, or anything but a clean end is found in the prefix (a
// bad record, a record running past it), the whole segment is loaded before
// it is judged. A recycled segment is read in chunks while its records are
// followed, up to the chunk where the data ends; from the end of the data
// on, the rest of the file is searched for records of the segment's life
// (the tag bytes are compared first, so leftovers cost little) in 4 MiB
// pieces into the scratch buffer. If one is found, or anything of this life
// that is not a clean continuation, the whole segment is loaded before it
// is judged.
//
// # Recycling
//
// Every segment created new is written twice: zeros by the file pipeline,
// then records; under a sustained load that saturates the disk the zeros
// take about half of its bandwidth. So, as RocksDB's recyclable log does,
// TruncateBefore renames the segments it drops to <segment>.recycle (the
// recycle pool, bounded by Options.RecycleSegments; beyond it they are
// removed), fsyncs the directory, and only then offers them to the pipeline,
// which prefers a pooled file to zero-filling a new one (and abandons a
// zero-filling under way when one arrives). A pooled file has the segment
// size and was fully written in its first life, so reusing it costs a
// header write, an fdatasync that writes no metadata, a rename and a
// directory fsync. A crash anywhere in this leaves either the old segment
// name or the pool name, with a header that decodes; the new segment name
// becomes durable only with its new header.
//
// What makes reuse safe is the epoch: records of earlier lives fail the
// seeded checksum, so they are never read, never taken for damage and never
// prove a spot durable. One more thing is needed when a torn tail is cut in
// a recycled segment: valid records of this life after the spot (leftovers
// of the torn writes) must all be erased, anywhere in the segment, or one
// could be read back as the continuation of the records appended next (they
// have this life's epoch, and may land exactly in place). The cut therefore
// reaches up to the end of the last record valid under the epoch.
//
// A segment file in the pool may be reused at once: no Reader may still be
// reading a segment that TruncateBefore has dropped.
//
// A torn tail is cut by copying the cut bytes to <segment>.broken (fsynced,
// directory fsynced) and then writing zeros over them and fdatasyncing, all
// before the first new append; new records then continue the sequence from
// the last whole record.
package walfile
