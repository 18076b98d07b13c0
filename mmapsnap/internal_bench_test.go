package mmapsnap

import (
	"bytes"
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pierrec/lz4/v4"
)

// BenchmarkLoadParts splits one-core Load into its parts on an order-like
// image: decompression alone, plus each checksum (the stored CRC both before
// decompression and after it, as Load does), the whole Load, Load's work on
// an already mapped file, and mapping alone (touching one byte per page).
// Rates are per arena byte; cpu-MB/s counts the thread's CPU time only.
func BenchmarkLoadParts(b *testing.B) {
	img := make([]byte, 64<<20)
	// A local order-like image: perf imports this package.
	for i := 0; i < len(img)*4/10; i += 64 {
		for j := 0; j < 64; j += 8 {
			v := uint64(i)*0x9E3779B97F4A7C15>>40 + uint64(j)
			img[i+j] = byte(v)
			img[i+j+1] = byte(v >> 8)
			img[i+j+2] = byte(j)
		}
	}
	for _, bs := range []int{128 << 10, 256 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("block=%dK", bs>>10), func(b *testing.B) { benchLoadParts(b, img, bs) })
	}
}

func benchLoadParts(b *testing.B, img []byte, blockSize int) {
	dir := b.TempDir()
	in, err := Write(dir, Meta{Seq: 1, ArenaSize: uint64(len(img))}, bytes.NewReader(img), Options{BlockSize: blockSize})
	if err != nil {
		b.Fatal(err)
	}
	o := Options{}
	o.EnsureDefaults()
	data, release, err := readWhole(o.FS, in.Path)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	l, err := parse(sliceReadAt(data), int64(len(data)), in.Path)
	if err != nil {
		b.Fatal(err)
	}
	dst := bytes.Clone(img)
	bs := int(l.blockSize)
	// storedCRC: 0 none, 1 before decompressing (the order format 2 was
	// first loaded in), 2 after (Load's order: the payload is in cache).
	run := func(name string, storedCRC int, rawCRC bool) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(img)))
			defer cpuMetric(b, len(img))()
			for b.Loop() {
				for i, e := range l.blocks {
					p := data[l.offsets[i] : l.offsets[i]+int64(e.stored)]
					out := dst[i*bs : i*bs+int(e.raw)]
					if storedCRC == 1 {
						crc(p)
					}
					if e.isRaw() {
						copy(out, p)
					} else if _, err := lz4.UncompressBlock(p, out); err != nil {
						b.Fatal(err)
					}
					if storedCRC == 2 {
						crc(p)
					}
					if rawCRC {
						rawSum(wireVersion, out)
					}
				}
			}
		})
	}
	run("lz4", 0, false)
	run("storedcrc-first+lz4", 1, false)
	run("lz4+storedcrc", 2, false)
	run("lz4+rawsum", 0, true)
	run("storedcrc-first+lz4+rawsum", 1, true)
	run("lz4+both", 2, true)
	b.Run("Load", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		defer cpuMetric(b, len(img))()
		for b.Loop() {
			if _, err := Load(in.Path, dst, Options{Workers: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeBlocks-premapped", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		defer cpuMetric(b, len(img))()
		for b.Loop() {
			l, err := parse(sliceReadAt(data), int64(len(data)), in.Path)
			if err != nil {
				b.Fatal(err)
			}
			if err := l.decodeBlocks(data, in.Path, 1, true, func(_, i int) []byte {
				return dst[i*bs : i*bs+int(l.blocks[i].raw)]
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("map-unmap", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		defer cpuMetric(b, len(img))()
		for b.Loop() {
			d, rel, err := readWhole(o.FS, in.Path)
			if err != nil {
				b.Fatal(err)
			}
			var sum byte
			for i := 0; i < len(d); i += 4096 {
				sum += d[i]
			}
			_ = sum
			rel()
		}
	})
	b.Run("crc-only", func(b *testing.B) {
		b.SetBytes(int64(len(img)))
		defer cpuMetric(b, len(img))()
		for b.Loop() {
			crc(dst)
		}
	})
}

// cpuMetric reports bytes per CPU-second of the benchmark's (locked)
// thread, which a busy machine's other load does not inflate.
func cpuMetric(b *testing.B, size int) func() {
	runtime.LockOSThread()
	t0 := threadCPUTime()
	return func() {
		d := threadCPUTime() - t0
		runtime.UnlockOSThread()
		b.ReportMetric(float64(size)*float64(b.N)/d.Seconds()/1e6, "cpu-MB/s")
	}
}

func threadCPUTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
