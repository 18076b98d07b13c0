package mmapsnap_test

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time of the calling thread: on a shared, busy
// machine, bytes per CPU-second compare better than bytes per second.
func threadCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchArena = 64 << 20

func benchImage(b *testing.B) []byte {
	b.Helper()
	img := make([]byte, benchArena)
	perf.ArenaImage(img, 1)
	return img
}

// BenchmarkCompressor compares the two LZ4 block compressors on an
// order-like arena image in the writer's block size, single core: the
// measurement behind the writer's choice of CompressorCCompat (doc.go).
func BenchmarkCompressor(b *testing.B) {
	img := benchImage(b)
	bs := mmapsnap.DefaultBlockSize
	out := make([]byte, lz4.CompressBlockBound(bs))
	run := func(b *testing.B, compress func(src, dst []byte) (int, error)) {
		b.SetBytes(int64(len(img)))
		b.ReportAllocs()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := threadCPU()
		var stored int
		for b.Loop() {
			stored = 0
			for off := 0; off < len(img); off += bs {
				n, err := compress(img[off:off+bs], out)
				if err != nil || n == 0 {
					n = bs
				}
				stored += n
			}
		}
		b.ReportMetric(float64(len(img))/float64(stored), "ratio")
		b.ReportMetric(float64(len(img))*float64(b.N)/(threadCPU()-t0).Seconds()/1e6, "cpu-MB/s")
	}
	b.Run("Compressor", func(b *testing.B) {
		var c lz4.Compressor
		run(b, c.CompressBlock)
	})
	b.Run("CompressorCCompat", func(b *testing.B) {
		var c lz4.CompressorCCompat
		run(b, c.CompressBlock)
	})
}

func BenchmarkWrite(b *testing.B) {
	img := benchImage(b)
	dir := b.TempDir()
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", w), func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := mmapsnap.Write(dir, mmapsnap.Meta{Seq: 1, ArenaSize: uint64(len(img))}, bytes.NewReader(img), mmapsnap.Options{Workers: w}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoad(b *testing.B) {
	img := benchImage(b)
	dir := b.TempDir()
	dst := make([]byte, len(img))
	copy(dst, img) // pre-fault
	for _, bs := range []int{64 << 10, 128 << 10, 256 << 10, 1 << 20} {
		in, err := mmapsnap.Write(dir, mmapsnap.Meta{Seq: uint64(bs), ArenaSize: uint64(len(img))}, bytes.NewReader(img), mmapsnap.Options{BlockSize: bs})
		if err != nil {
			b.Fatal(err)
		}
		for _, w := range []int{1, 2} {
			b.Run(fmt.Sprintf("block=%dK/workers=%d", bs>>10, w), func(b *testing.B) {
				b.SetBytes(int64(len(img)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := mmapsnap.Load(in.Path, dst, mmapsnap.Options{Workers: w}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(in.Ratio(), "ratio")
			})
		}
	}
}

func BenchmarkRawLZ4Decompress(b *testing.B) {
	img := benchImage(b)
	bs := mmapsnap.DefaultBlockSize
	var c lz4.CompressorCCompat
	var blocks [][]byte
	for off := 0; off < len(img); off += bs {
		out := make([]byte, lz4.CompressBlockBound(bs))
		n, _ := c.CompressBlock(img[off:off+bs], out)
		blocks = append(blocks, out[:n])
	}
	dst := make([]byte, len(img))
	b.SetBytes(int64(len(img)))
	for b.Loop() {
		for i, blk := range blocks {
			if _, err := lz4.UncompressBlock(blk, dst[i*bs:(i+1)*bs]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkLoadVsFloor measures, on one core, ways of checking blocks and
// of getting the file to the decoder against raw LZ4 decompression of the
// same blocks from the heap (the floor of `cowbook bench snapshot-file`),
// interleaved: each iteration runs the floor and then one variant, for every
// variant, and the reported metrics are medians of the per-iteration ratios
// (variant speed over floor speed) in the thread's CPU time, which a busy
// machine's other load disturbs least. The image is the benchmark's 256 MiB
// arena, so that the compressed file (≈ 49 MiB) does not stay in L3 between
// runs. Run with -benchtime 15x or more.
//
// Check order, on a mapping faulted in once: crc-first checks a block's
// stored CRC before decompressing it (format 2's first loader), crc-after
// right after (Load's order); both then hash the output. Load and
// Load-skip-raw are the whole Load with and without the raw hash. Reading
// the file, each with Load's per-block work in Load's order and paying its
// own setup and teardown: map-on-demand faults the mapping in as the decoder
// reads it, map-willneed adds MADV_WILLNEED (what Load does), map-populate-read
// populates it first with MADV_POPULATE_READ, map-populate with MAP_POPULATE,
// and pread reads up to 512 KiB of whole blocks at a time into one reused
// buffer instead of mapping.
func BenchmarkLoadVsFloor(b *testing.B) {
	img := make([]byte, 256<<20)
	perf.ArenaImage(img, 1)
	in, err := mmapsnap.Write(b.TempDir(), mmapsnap.Meta{Seq: 1, ArenaSize: uint64(len(img))}, bytes.NewReader(img), mmapsnap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	_, blocks, err := mmapsnap.Inspect(in.Path, mmapsnap.Options{})
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open(in.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	size := int(in.FileBytes)
	premapped, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Munmap(premapped)
	heap := bytes.Clone(premapped) // the floor's compressed blocks, off the mapping
	dst := bytes.Clone(img)        // pre-faulted
	tab := crc32.MakeTable(crc32.Castagnoli)
	bs := in.BlockSize
	out := func(i int) []byte { return dst[i*bs : i*bs+int(blocks[i].RawBytes)] }
	check := func(i int, p []byte, crcFirst bool) error {
		blk := blocks[i]
		if crcFirst && crc32.Checksum(p, tab) != blk.StoredCRC {
			return fmt.Errorf("block %d: stored CRC", i)
		}
		if _, err := lz4.UncompressBlock(p, out(i)); err != nil {
			return err
		}
		if !crcFirst && crc32.Checksum(p, tab) != blk.StoredCRC {
			return fmt.Errorf("block %d: stored CRC", i)
		}
		if xxh3.Hash(out(i)) != blk.RawCRC {
			return fmt.Errorf("block %d: raw hash", i)
		}
		return nil
	}
	all := func(data []byte, crcFirst bool) error {
		for i, blk := range blocks {
			if err := check(i, data[blk.Offset:blk.Offset+int64(blk.StoredBytes)], crcFirst); err != nil {
				return err
			}
		}
		return nil
	}
	mapped := func(flags, advice int) func() error {
		return func() error {
			m, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED|flags)
			if err != nil {
				return err
			}
			defer unix.Munmap(m)
			if advice >= 0 {
				if err := unix.Madvise(m, advice); err != nil {
					return err
				}
			}
			return all(m, false)
		}
	}
	buf := make([]byte, 512<<10+bs)
	pread := func() error {
		const hdr = 20 // block header before each payload (format version 2)
		for i := 0; i < len(blocks); {
			start, end, j := blocks[i].Offset-hdr, int64(0), i
			for ; j < len(blocks) && (j == i || blocks[j].Offset+int64(blocks[j].StoredBytes)-start <= 512<<10); j++ {
				end = blocks[j].Offset + int64(blocks[j].StoredBytes)
			}
			chunk := buf[:end-start]
			if _, err := f.ReadAt(chunk, start); err != nil {
				return err
			}
			for k := i; k < j; k++ {
				off := blocks[k].Offset - start
				if err := check(k, chunk[off:off+int64(blocks[k].StoredBytes)], false); err != nil {
					return err
				}
			}
			i = j
		}
		return nil
	}
	floor := func() error {
		for i, blk := range blocks {
			if _, err := lz4.UncompressBlock(heap[blk.Offset:blk.Offset+int64(blk.StoredBytes)], out(i)); err != nil {
				return err
			}
		}
		return nil
	}
	variants := []struct {
		name string
		f    func() error
	}{
		{"crc-first", func() error { return all(premapped, true) }},
		{"crc-after", func() error { return all(premapped, false) }},
		{"Load", func() error { _, err := mmapsnap.Load(in.Path, dst, mmapsnap.Options{Workers: 1}); return err }},
		{"Load-skip-raw", func() error {
			_, err := mmapsnap.Load(in.Path, dst, mmapsnap.Options{Workers: 1, SkipRawCRC: true})
			return err
		}},
		{"map-on-demand", mapped(0, -1)},
		{"map-willneed", mapped(0, unix.MADV_WILLNEED)},
		{"map-populate-read", mapped(0, unix.MADV_POPULATE_READ)},
		{"map-populate", mapped(unix.MAP_POPULATE, -1)},
		{"pread", pread},
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu := func(f func() error) float64 {
		t0 := threadCPU()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		return (threadCPU() - t0).Seconds()
	}
	ratios := make([][]float64, len(variants))
	b.SetBytes(int64(len(img)) * int64(2*len(variants)))
	for b.Loop() {
		for k, v := range variants {
			fl := cpu(floor)
			ratios[k] = append(ratios[k], fl/cpu(v.f))
		}
	}
	for k, v := range variants {
		slices.Sort(ratios[k])
		b.ReportMetric(ratios[k][len(ratios[k])/2], v.name+"/floor")
	}
}
