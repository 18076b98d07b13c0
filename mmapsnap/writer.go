package mmapsnap

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// Write reads exactly meta.ArenaSize bytes from r, compresses them in blocks
// across opts.Workers goroutines, and publishes the snapshot as
// <dir>/FileName(meta.Seq): it writes a temporary file, syncs it, renames it
// to its final name and syncs dir. When Write returns nil the snapshot is
// durable; on any error no file is published and the temporary file is
// removed (a crash may leave a temporary file, which List ignores and
// Retain removes). A snapshot already published at the same sequence is
// replaced atomically.
//
// dir is created when missing; its parent must already be durable. Write
// holds at most 2×Workers blocks in memory whatever the arena size, and
// reads r from the calling goroutine only.
func Write(dir string, meta Meta, r io.Reader, opts Options) (Info, error) {
	opts.EnsureDefaults()
	if err := opts.validate(); err != nil {
		return Info{}, err
	}
	fs := opts.FS
	if _, isDir, err := fs.Stat(dir); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			return Info{}, fmt.Errorf("mmapsnap: %w", err)
		}
		if err := fs.MkdirAll(dir, 0o755); err != nil {
			return Info{}, fmt.Errorf("mmapsnap: %w", err)
		}
		if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
			return Info{}, fmt.Errorf("mmapsnap: %w", err)
		}
	} else if !isDir {
		return Info{}, fmt.Errorf("mmapsnap: %s is not a directory", dir)
	}

	final := filepath.Join(dir, FileName(meta.Seq))
	tmp := final + tmpSuffix
	f, err := fs.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Info{}, fmt.Errorf("mmapsnap: %w", err)
	}
	l, err := writeFile(f, meta, r, &opts)
	if err == nil {
		// Fail-stop: a failed fsync is never retried; the file's state is
		// unknown and it is discarded below.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err == nil {
		err = fs.Rename(tmp, final)
	}
	if err != nil {
		// Best effort: the file was never published, so a failed removal
		// leaves only a temporary file that List ignores.
		_ = fs.Remove(tmp)
		return Info{}, fmt.Errorf("mmapsnap: writing %s: %w", final, err)
	}
	if err := fs.SyncDir(dir); err != nil {
		// The rename may or may not be durable; the caller must not count
		// on this snapshot (and must not delete older ones).
		return Info{}, fmt.Errorf("mmapsnap: publishing %s: %w", final, err)
	}
	return l.info(final), nil
}

// slot is one block on its way through the writer: read into in, compressed
// by a worker into out (block header followed by payload).
type slot struct {
	in   []byte
	out  []byte
	e    entry
	done chan struct{}
}

// writeFile streams the whole file into f: header, blocks, index, footer.
func writeFile(f io.Writer, meta Meta, r io.Reader, opts *Options) (*layout, error) {
	h := header{Meta: meta, formatVersion: wireVersion, blockSize: uint32(opts.BlockSize), compression: wireLZ4Block}
	var hb [wireHeaderLen]byte
	h.encode(hb[:])
	if _, err := f.Write(hb[:]); err != nil {
		return nil, err
	}
	count := blockCount(meta.ArenaSize, h.blockSize)
	// The index grows with what is actually read: a wrong ArenaSize must
	// fail on a short read, not on a huge allocation up front.
	l := &layout{header: h, blocks: make([]entry, 0, min(count, 1<<16))}
	pos := int64(wireHeaderLen)

	workers := opts.Workers
	depth := uint64(2 * workers)
	jobs := make(chan *slot, depth)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c lz4.CompressorCCompat
			for s := range jobs {
				s.compress(&c)
				s.done <- struct{}{}
			}
		}()
	}
	ring := make([]*slot, 0, min(depth, count))
	var next, inflight uint64 // next block to write; blocks handed to workers and not yet written
	var firstErr error
	// flush waits for the oldest in-flight block and appends it to the file.
	flush := func() {
		s := ring[next%depth]
		<-s.done
		next++
		inflight--
		if firstErr != nil {
			return
		}
		if _, err := f.Write(s.out[:wireEntryV2+int(s.e.stored)]); err != nil {
			firstErr = err
			return
		}
		l.blocks = append(l.blocks, s.e)
		l.offsets = append(l.offsets, pos+wireEntryV2)
		l.storedBytes += int64(s.e.stored)
		pos += wireEntryV2 + int64(s.e.stored)
	}
	bs := uint64(opts.BlockSize)
	var read uint64
	for i := uint64(0); i < count && firstErr == nil; i++ {
		if inflight == depth {
			flush()
			if firstErr != nil {
				break
			}
		}
		var s *slot
		if uint64(len(ring)) < depth {
			n := min(bs, meta.ArenaSize)
			s = &slot{in: make([]byte, n), out: make([]byte, wireEntryV2+lz4.CompressBlockBound(int(n))), done: make(chan struct{}, 1)}
			ring = append(ring, s)
		} else {
			s = ring[i%depth]
		}
		n := min(bs, meta.ArenaSize-i*bs)
		s.in = s.in[:n]
		got, err := io.ReadFull(r, s.in)
		read += uint64(got)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			firstErr = fmt.Errorf("reading arena: got %d of %d bytes: %w", read, meta.ArenaSize, err)
			break
		}
		inflight++
		jobs <- s
	}
	// Drain in order: blocks already handed out are written (or, after an
	// error, waited for so that no worker still holds a slot).
	for inflight > 0 {
		flush()
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}

	l.indexOffset = pos
	tail := make([]byte, len(l.blocks)*wireEntryV2+wireFooterLen)
	for i, e := range l.blocks {
		e.encode(tail[i*wireEntryV2:])
	}
	c := crc32.Update(0, castagnoli, hb[:])
	c = crc32.Update(c, castagnoli, tail[:len(tail)-wireFooterLen])
	l.footerCRC = encodeFooter(tail[len(tail)-wireFooterLen:], uint64(pos), count, c)
	if _, err := f.Write(tail); err != nil {
		return nil, err
	}
	l.fileSize = pos + int64(len(tail))
	return l, nil
}

// compress fills s.out with the block header and payload of s.in: LZ4 when
// it shrinks the block, the raw bytes otherwise.
func (s *slot) compress(c *lz4.CompressorCCompat) {
	payload := s.out[wireEntryV2:]
	n, err := c.CompressBlock(s.in, payload)
	e := entry{raw: uint32(len(s.in)), rawSum: rawSum(wireVersion, s.in)}
	if err != nil || n == 0 || n >= len(s.in) {
		copy(payload, s.in)
		e.stored, e.storedCRC = e.raw, crc(s.in)
	} else {
		e.stored, e.storedCRC = uint32(n), crc(payload[:n])
	}
	e.encode(s.out[:wireEntryV2])
	s.e = e
}
