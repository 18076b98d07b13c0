package mmapsnap

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/pierrec/lz4/v4"
)

// Load validates the snapshot at path (header, footer, index) and then
// decompresses every block into dst, which must hold at least ArenaSize
// bytes, across opts.Workers goroutines, checking each block's CRCs. Bytes of
// dst past ArenaSize are left alone. On error, dst holds partial data and
// must not be used: Load never returns nil with an arena that differs from
// the one written.
//
// The file is mapped read-only when opts.FS gives a real file descriptor
// (vfs.OS), and read into memory otherwise. A published snapshot is never
// modified; truncating one while it is being loaded is not supported.
func Load(path string, dst []byte, opts Options) (Info, error) {
	opts.EnsureDefaults()
	data, release, err := readWhole(opts.FS, path)
	if err != nil {
		return Info{}, err
	}
	defer release()
	l, err := parse(sliceReadAt(data), int64(len(data)), path)
	if err != nil {
		return Info{}, err
	}
	if uint64(len(dst)) < l.ArenaSize {
		return Info{}, fmt.Errorf("mmapsnap: %s: destination holds %d bytes, arena is %d", path, len(dst), l.ArenaSize)
	}
	bs := int64(l.blockSize)
	l.zeroedDst = opts.ZeroedDst
	err = l.decodeBlocks(data, path, opts.Workers, !opts.SkipRawCRC, func(_, i int) []byte {
		off := int64(i) * bs
		return dst[off : off+int64(l.blocks[i].raw)]
	})
	if err != nil {
		return Info{}, err
	}
	return l.info(path), nil
}

// Verify checks the whole snapshot at path as Load does, decompressing every
// block into scratch memory (one block per worker) instead of an arena.
func Verify(path string, opts Options) (Info, error) {
	opts.EnsureDefaults()
	data, release, err := readWhole(opts.FS, path)
	if err != nil {
		return Info{}, err
	}
	defer release()
	l, err := parse(sliceReadAt(data), int64(len(data)), path)
	if err != nil {
		return Info{}, err
	}
	workers := max(1, min(opts.Workers, len(l.blocks)))
	scratch := make([][]byte, workers)
	// Bounded by the header: one block size, or the arena when smaller.
	n := min(uint64(l.blockSize), l.ArenaSize)
	err = l.decodeBlocks(data, path, workers, true, func(w, i int) []byte {
		if scratch[w] == nil {
			scratch[w] = make([]byte, n)
		}
		return scratch[w][:l.blocks[i].raw]
	})
	if err != nil {
		return Info{}, err
	}
	return l.info(path), nil
}

// Inspect validates the header, index and footer of the snapshot at path
// and describes it and each block, without reading the blocks' payloads.
// It does not prove the blocks whole: Verify does.
func Inspect(path string, opts Options) (Info, []Block, error) {
	opts.EnsureDefaults()
	f, err := vfs.Open(opts.FS, path)
	if err != nil {
		return Info{}, nil, fmt.Errorf("mmapsnap: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return Info{}, nil, fmt.Errorf("mmapsnap: %w", err)
	}
	l, err := parse(fileReadAt(f, size, path), size, path)
	if err != nil {
		return Info{}, nil, err
	}
	blocks := make([]Block, len(l.blocks))
	for i, e := range l.blocks {
		blocks[i] = Block{Offset: l.offsets[i], StoredBytes: e.stored, RawBytes: e.raw, Raw: e.isRaw(), StoredCRC: e.storedCRC, RawCRC: e.rawSum}
	}
	return l.info(path), blocks, nil
}

func sliceReadAt(data []byte) func(p []byte, off int64) error {
	return func(p []byte, off int64) error {
		// parse only asks for ranges it has bounded by the size.
		copy(p, data[off:off+int64(len(p))])
		return nil
	}
}

func fileReadAt(f vfs.File, size int64, path string) func(p []byte, off int64) error {
	return func(p []byte, off int64) error {
		n, err := f.ReadAt(p, off)
		if n == len(p) {
			return nil
		}
		if err == nil || errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s: file shrank below %d bytes while reading offset %d", ErrTruncated, path, size, off)
		}
		return fmt.Errorf("mmapsnap: %w", err)
	}
}

// readWhole returns the file's bytes, mapped when the filesystem gives a
// descriptor, and a function that releases them.
func readWhole(fs vfs.FS, path string) ([]byte, func(), error) {
	f, err := vfs.Open(fs, path)
	if err != nil {
		return nil, nil, fmt.Errorf("mmapsnap: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, nil, fmt.Errorf("mmapsnap: %w", err)
	}
	if size < wireHeaderLen+wireFooterLen {
		return nil, nil, fmt.Errorf("%w: %s: %d bytes, shorter than header and footer", ErrTruncated, path, size)
	}
	if fd, ok := vfs.Fd(f); ok {
		if data, release, err := mapFile(fd, size, path); err == nil {
			return data, release, nil
		}
		// A filesystem that cannot map files: read it instead.
	}
	// Bounded by the file's own size.
	data := make([]byte, size)
	if err := fileReadAt(f, size, path)(data, 0); err != nil {
		return nil, nil, err
	}
	return data, func() {}, nil
}

// decodeBlocks checks every block of l in data and produces its bytes into
// dstFor(worker, block), using up to workers goroutines. It returns the
// error of the lowest-numbered bad block it found; once one block fails,
// the others stop early.
func (l *layout) decodeBlocks(data []byte, path string, workers int, rawCheck bool, dstFor func(w, i int) []byte) error {
	n := len(l.blocks)
	workers = max(1, min(workers, n))
	var (
		next    atomic.Int64
		stop    atomic.Bool
		mu      sync.Mutex
		errAt   = n
		firstEr error
		wg      sync.WaitGroup
	)
	work := func(w int) {
		for !stop.Load() {
			i := int(next.Add(1) - 1)
			if i >= n {
				return
			}
			if err := l.decodeBlock(data, path, i, rawCheck, dstFor(w, i)); err != nil {
				mu.Lock()
				if i < errAt {
					errAt, firstEr = i, err
				}
				mu.Unlock()
				stop.Store(true)
				return
			}
		}
	}
	for w := 1; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work(w)
		}()
	}
	work(0)
	wg.Wait()
	return firstEr
}

// decodeBlock checks block i's header against the index, decompresses (or
// copies) its payload into out, of exactly its raw length, then checks the
// stored CRC of the payload and, when rawCheck is set, the raw checksum of
// out.
//
// The stored CRC runs after decompression, not before, because of where the
// bytes are: LZ4 reads the payload from memory while it decodes, and the
// hardware overlaps those misses with its work; a CRC first would pay them
// alone and gain nothing, since the decoder is bounds-checked on any input
// and writes only into out (capped here), which is the caller's to discard on
// error. The CRC then reads the payload from L1/L2, and the raw checksum
// reads out from L2, both right behind the decoder (measured in
// BENCHMARKS.md: ≈ 5% of raw LZ4 speed on one core, against CRC first). A
// block whose payload fails its CRC is reported as ErrChecksum whatever the
// decoder made of it, so every damaged byte still fails Load and Verify.
func (l *layout) decodeBlock(data []byte, path string, i int, rawCheck bool, out []byte) error {
	e, off := l.blocks[i], l.offsets[i]
	v := l.formatVersion
	hdr := off - int64(entryLen(v))
	if got := decodeEntry(v, data[hdr:off]); got != e {
		return fmt.Errorf("%w: %s: block %d header at offset %d disagrees with the index", ErrChecksum, path, i, hdr)
	}
	payload := data[off : off+int64(e.stored)]
	out = out[:len(out):len(out)]
	if l.zeroedDst && !e.isRaw() && lz4Zeros(payload, len(out)) {
		// out already holds what the block decodes to.
		if c := crc(payload); c != e.storedCRC {
			return fmt.Errorf("%w: %s: block %d payload at offset %d: CRC %08x, stored %08x", ErrChecksum, path, i, off, c, e.storedCRC)
		}
		if rawCheck {
			if c := zeroSum(v, len(out)); c != e.rawSum {
				return fmt.Errorf("%w: %s: block %d at offset %d: uncompressed checksum %016x, stored %016x", ErrChecksum, path, i, off, c, e.rawSum)
			}
		}
		touchPages(out)
		return nil
	}
	var decodeErr error
	if e.isRaw() {
		copy(out, payload)
	} else if got, err := lz4.UncompressBlock(payload, out); err != nil || got != len(out) {
		decodeErr = fmt.Errorf("%w: %s: block %d at offset %d does not decompress to %d bytes (got %d, %v)", ErrInvalid, path, i, off, len(out), got, err)
	}
	if c := crc(payload); c != e.storedCRC {
		return fmt.Errorf("%w: %s: block %d payload at offset %d: CRC %08x, stored %08x", ErrChecksum, path, i, off, c, e.storedCRC)
	}
	if decodeErr != nil {
		return decodeErr
	}
	if !rawCheck || e.isRaw() && v == wireVersion1 {
		// In version 1 the stored CRC of a raw block covered these very
		// bytes and equals the raw CRC (parse checked): no second pass.
		return nil
	}
	if c := rawSum(v, out); c != e.rawSum {
		return fmt.Errorf("%w: %s: block %d at offset %d: uncompressed checksum %016x, stored %016x", ErrChecksum, path, i, off, c, e.rawSum)
	}
	return nil
}
