// Package mmapsnap owns cowbook's snapshot file: its format, the atomic
// writer that publishes it, the loader that maps it and decompresses it
// straight into a fresh arena, and the catalog of snapshots in a directory.
//
// A snapshot is the arena's bytes at a sequence number S, taken so that
// recovery can start from S+1 instead of replaying the whole log. The package
// knows nothing about what the arena holds: it stores ArenaSize opaque bytes
// plus a few words of metadata (Meta).
//
// # File format (version 2)
//
// Every integer is little-endian. Every constant named wire* in format.go is
// part of the format (magic, end magic, versions, compression id, header,
// entry and footer lengths): changing one needs a new format version.
//
//	offset 0
//	+--------------------------------------------------------------+
//	| header, 64 bytes                                             |
//	|   0  magic            [8]byte  "COWSNAP\x00"                 |
//	|   8  format version   u32      2                             |
//	|  12  layout version   u32      arena layout (Meta)           |
//	|  16  seq              u64      last sequence applied (Meta)  |
//	|  24  arena size       u64      uncompressed bytes (Meta)     |
//	|  32  state checksum   u64      engine's state hash (Meta)    |
//	|  40  block size       u32      uncompressed bytes per block  |
//	|  44  compression      u32      1 = LZ4 block format          |
//	|  48  reserved         [12]byte zero                          |
//	|  60  header CRC       u32      CRC32C of bytes 0..59         |
//	+--------------------------------------------------------------+
//	| block 0: block header, 20 bytes                              |
//	|   0  stored length    u32      bytes of payload that follow  |
//	|   4  raw length       u32      uncompressed bytes            |
//	|   8  stored CRC       u32      CRC32C of the payload         |
//	|  12  raw hash         u64      XXH3-64 (seed 0) of the       |
//	|                                uncompressed bytes            |
//	|      payload          stored length bytes: one LZ4 block,    |
//	|                       or the raw bytes when stored length    |
//	|                       equals raw length                      |
//	+--------------------------------------------------------------+
//	| block 1 ... block N-1, back to back                          |
//	+--------------------------------------------------------------+
//	| index: N entries of 20 bytes, one per block, in order        |
//	|   0  stored length    u32                                    |
//	|   4  raw length       u32                                    |
//	|   8  stored CRC       u32                                    |
//	|  12  raw hash         u64                                    |
//	+--------------------------------------------------------------+
//	| footer, 32 bytes, written last                               |
//	|   0  index offset     u64                                    |
//	|   8  block count      u64                                    |
//	|  16  reserved         u32      zero                          |
//	|  20  footer CRC       u32      CRC32C of header, index and   |
//	|                                footer bytes 0..19            |
//	|  24  end magic        [8]byte  "SNAPEND\x00"                 |
//	+--------------------------------------------------------------+
//
// Blocks cut the arena into N = ceil(arena size / block size) pieces, each of
// block size bytes except the last. Each block is compressed on its own (no
// shared dictionary) so that the loader decompresses them in parallel and a
// reader can seek to any block through the index. A block that LZ4 does not
// shrink is stored raw; the stored length then equals the raw length, which a
// compressed block never does (the writer stores raw whenever compression
// saves nothing).
//
// Block i starts at 64 + sum over j < i of (20 + stored length j); the index
// starts right after the last block; the footer is the last 32 bytes. The
// loader checks that these positions add up exactly, so every byte of the
// file is accounted for and every length it reads is bounded by the block
// size and the file size before anything is allocated or sliced.
//
// # Checksums
//
// Two per block, each cheap next to LZ4 decompression (≈ 5 GB/s per core):
//
//   - the stored CRC, a CRC32C (≈ 23 GB/s on a block in cache), covers the
//     bytes on disk, so every single-bit flip and every burst of up to 32
//     bits in a payload is detected, with certainty, before Load or Verify
//     returns (a checksum of the uncompressed bytes alone would catch a
//     flipped compressed byte only with high probability, since one flip can
//     change many output bytes);
//   - the raw hash, an XXH3-64 (github.com/zeebo/xxh3, seed 0; ≈ 50 GB/s on
//     a block in cache, 2.2× the CRC32C), covers the uncompressed bytes as
//     they land in the caller's arena, end to end, so a fault in
//     compression, decompression or memory between them is caught too. The
//     faults it is there for are not bit flips in the file (the stored CRC
//     has those) but wrong output of arbitrary shape, against which a 64-bit
//     hash misses with probability about 2^-64, better than a 32-bit CRC's
//     2^-32. It is computed right after a block is decompressed, while the
//     block is still in the core's L2 cache.
//
// A block stored raw has both: the stored CRC over its payload and the raw
// hash over the same bytes once copied.
//
// The header has its own CRC so that a reader can trust the sizes before it
// reads anything else; the footer CRC covers the header, the whole index and
// the footer. Each block header repeats its index entry and must match it.
// Together: every bit of the file is covered by a CRC32C, so a single-bit
// flip anywhere is always detected.
//
// # Version 1
//
// Version 1 differs only in the raw checksum: a u32 CRC32C of the
// uncompressed bytes at offset 12 of 16-byte block headers and index
// entries, equal to the stored CRC for a block stored raw. The loader reads
// both versions (it dispatches on the header's version); the writer writes
// version 2. The raw CRC32C alone kept one-core loading under 0.8× raw LZ4
// decompression speed; XXH3-64 halves that cost (see BENCHMARKS.md).
//
// # Compression
//
// LZ4 block format from github.com/pierrec/lz4/v4, compressed with
// CompressorCCompat (the reference implementation's LZ4_compress_fast).
// Measured on the order-like arena image (perf.ArenaImage, 64 MiB, 256 KiB
// blocks; `go test -bench Compressor ./mmapsnap`, CPU time of the working
// thread on a busy 2-vCPU machine): CompressorCCompat ≈ 0.8-1.0 GB/s per
// core against ≈ 0.6-0.73 GB/s for Compressor (≈ 1.45× faster), at a ratio
// of 5.33 against 5.46 (files ≈ 2.4% larger). The writer must keep up with
// the snapshot producer, so speed wins. Both produce the same block format:
// the choice is the writer's alone. The frame format is not used: its
// content checksum halves decompression speed, and blocks here carry their
// own checksums.
//
// The default block size is 256 KiB: a block's output and its compressed
// input stay in a core's L2 cache (512 KiB), so the stored CRC and the raw
// hash that follow decompression read from cache. The reader takes the block
// size from the header, so the writer may choose any size in [MinBlockSize,
// MaxBlockSize]. LZ4's window is 64 KiB, so larger blocks barely improve the
// ratio.
//
// # Publishing
//
// Write streams the arena from an io.Reader (a pipe from the process that
// holds the frozen arena), compresses blocks in parallel with bounded memory,
// and publishes the file atomically:
//
//	create <dir>/snap-<seq>.snap.tmp, write header, blocks, index, footer,
//	fsync the file, rename to <dir>/snap-<seq>.snap, fsync the directory.
//
// The sequence is written in 20 decimal digits, so names sort in sequence
// order. A crash at any point leaves either no new name, or a temporary file
// that List ignores, or the complete, synced file: never a file under its
// final name whose data is not durable. Any error removes the temporary file;
// if only the final directory sync fails, the renamed file may or may not
// survive a crash, and Write reports the error so that the caller neither
// counts on it nor deletes older snapshots. Retain deletes old snapshots
// (and temporary files crashed writers left) once a newer one is durable.
//
// # Loading
//
// Load maps the file read-only (github.com/edsrzf/mmap-go) when the
// filesystem gives a real file descriptor, otherwise reads it, validates the
// header, footer and index before touching any block, then decompresses every
// block straight into the caller's destination in parallel, checking both
// checksums of each. On error the destination holds partial data and must not be
// used.
//
// Each block is handled in one pass over cache-resident bytes: decompress
// the payload into the destination, then CRC the payload (now in L1/L2),
// then hash the output (in L2). The stored CRC follows the decoder rather
// than preceding it because the decoder reads the payload from memory
// anyway and overlaps those cache misses with its work, while a CRC in
// front would pay them alone (≈ 5% of raw LZ4 speed on one core, see
// BENCHMARKS.md). So the decoder does see a damaged payload: it is
// bounds-checked on any input (the bit-flip and fuzz tests feed it such
// payloads) and writes only into the block's own slice of the destination,
// and the block then fails its CRC with ErrChecksum whatever the decoder
// made of it.
//
// The raw hash costs ≈ 10% of raw LZ4 speed on one core (see
// BENCHMARKS.md). Options.SkipRawCRC drops it: every byte of the file is
// still covered by a CRC checked before Load returns, so damage to the file is
// still always detected; only a fault in decompression or memory would go
// unseen, which the engine's own state checksum can catch.
package mmapsnap
