package mmapsnap_test

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
	"github.com/pierrec/lz4/v4"
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
