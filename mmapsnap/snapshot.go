package mmapsnap

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/cowbook/cowbook/internal/vfs"
)

// Meta describes what a snapshot holds. It is stored in the header.
type Meta struct {
	// Seq is the last log sequence number applied to the arena: recovery
	// replays the log from Seq+1.
	Seq uint64 `json:"seq"`
	// LayoutVersion is the arena layout version of the engine that wrote
	// the snapshot; the engine refuses layouts it does not read.
	LayoutVersion uint32 `json:"layout_version"`
	// ArenaSize is the number of uncompressed bytes.
	ArenaSize uint64 `json:"arena_bytes"`
	// StateChecksum is the engine's own hash of the state, stored for the
	// engine to check after loading; zero when unused. mmapsnap only
	// carries it.
	StateChecksum uint64 `json:"state_checksum"`
}

// Options configures reading and writing. The zero value is ready to use.
type Options struct {
	// FS is the filesystem; nil means vfs.OS.
	FS vfs.FS
	// BlockSize is the uncompressed size of each block when writing, in
	// [MinBlockSize, MaxBlockSize]; 0 means DefaultBlockSize. Readers take
	// the block size from the file.
	BlockSize int
	// Workers is how many goroutines compress (Write) or decompress and
	// check (Load, Verify) blocks; 0 means runtime.GOMAXPROCS(0). The
	// writer holds at most 2×Workers blocks in memory.
	Workers int
	// SkipRawCRC makes Load skip the check of each block's uncompressed
	// bytes against its raw checksum (XXH3-64 in format version 2, CRC32C
	// in version 1), ≈ 10% of raw LZ4 speed on one core on this project's
	// machines. Every byte of the file is still covered by a CRC
	// checked before Load returns, so a damaged file is still always
	// detected; what is given up is end-to-end detection of a fault in
	// decompression itself or in memory, which the engine's state checksum
	// (Meta.StateChecksum) can cover instead. Verify ignores it.
	SkipRawCRC bool
	// ZeroedDst tells Load that its destination holds only zeros, as fresh
	// anonymous memory does (engine.AllocArena): a block that decompresses
	// to zeros, most of a sparse arena, is then checked without being
	// written. Its stored CRC is checked as always, its raw checksum
	// against that of zeros (unless SkipRawCRC), and each of its pages
	// gets one write, so that Load leaves the memory faulted in as a full
	// write would. LoadNewest clears it after a failed Load, which leaves
	// its destination written. Verify ignores it.
	ZeroedDst bool
}

// EnsureDefaults fills in the zero fields and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.OS
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

func (o *Options) validate() error {
	if o.BlockSize < MinBlockSize || o.BlockSize > MaxBlockSize {
		return fmt.Errorf("mmapsnap: block size %d outside [%d, %d]", o.BlockSize, MinBlockSize, MaxBlockSize)
	}
	return nil
}

// Info describes one snapshot file.
type Info struct {
	Path string `json:"path"`
	Meta
	FormatVersion uint32 `json:"format_version"`
	BlockSize     int    `json:"block_bytes"`
	Compression   string `json:"compression"`
	// FileBytes is the size of the file.
	FileBytes int64 `json:"file_bytes"`
	// StoredBytes is the sum of the blocks' payloads, compressed or raw.
	StoredBytes int64 `json:"stored_bytes"`
	// Blocks is the number of blocks; RawBlocks of them are stored
	// uncompressed because LZ4 did not shrink them.
	Blocks    int `json:"blocks"`
	RawBlocks int `json:"raw_blocks"`
	// FooterCRC is the CRC32C the footer holds (over header, index and
	// footer): a short fingerprint of the file.
	FooterCRC uint32 `json:"footer_crc"`
	// Err is set only in List's results, for a file whose header, index or
	// footer is not valid; the other fields are then what is known (Path,
	// Seq from the name, FileBytes).
	Err error `json:"-"`
}

// Ratio returns arena bytes per file byte (higher is better compression).
func (i Info) Ratio() float64 {
	if i.FileBytes == 0 {
		return 0
	}
	return float64(i.ArenaSize) / float64(i.FileBytes)
}

func (l *layout) info(path string) Info {
	in := Info{
		Path:          path,
		Meta:          l.Meta,
		FormatVersion: l.formatVersion,
		BlockSize:     int(l.blockSize),
		Compression:   "lz4-block",
		FileBytes:     l.fileSize,
		StoredBytes:   l.storedBytes,
		Blocks:        len(l.blocks),
		FooterCRC:     l.footerCRC,
	}
	for _, e := range l.blocks {
		if e.isRaw() {
			in.RawBlocks++
		}
	}
	return in
}

// Block describes one block, as Inspect reports it.
type Block struct {
	// Offset is where the block's payload starts in the file.
	Offset      int64  `json:"offset"`
	StoredBytes uint32 `json:"stored_bytes"`
	RawBytes    uint32 `json:"raw_bytes"`
	// Raw is set when the payload is the uncompressed bytes.
	Raw       bool   `json:"raw"`
	StoredCRC uint32 `json:"stored_crc"`
	// RawCRC is the checksum of the uncompressed bytes: XXH3-64 in format
	// version 2, CRC32C in version 1.
	RawCRC uint64 `json:"raw_crc"`
}

// File naming: snap-<seq, 20 digits>.snap, so lexical order is sequence
// order; the writer's temporary file adds tmpSuffix.
const (
	namePrefix = "snap-"
	nameSuffix = ".snap"
	tmpSuffix  = ".tmp"
	seqDigits  = 20
)

// FileName returns the name a snapshot at seq is published under.
func FileName(seq uint64) string {
	return fmt.Sprintf("%s%0*d%s", namePrefix, seqDigits, seq, nameSuffix)
}

// ParseFileName returns the sequence in a published snapshot's name.
func ParseFileName(name string) (uint64, bool) {
	name = filepath.Base(name)
	if !strings.HasPrefix(name, namePrefix) || !strings.HasSuffix(name, nameSuffix) {
		return 0, false
	}
	digits := name[len(namePrefix) : len(name)-len(nameSuffix)]
	if len(digits) != seqDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

func parseTmpName(name string) (uint64, bool) {
	if !strings.HasSuffix(name, tmpSuffix) {
		return 0, false
	}
	return ParseFileName(strings.TrimSuffix(name, tmpSuffix))
}
