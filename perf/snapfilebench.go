package perf

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/cowbook/cowbook/internal/placement"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/pierrec/lz4/v4"
)

// SnapFileConfig configures the snapshot file benchmark.
type SnapFileConfig struct {
	// ArenaBytes is the size of the synthetic arena image (ArenaImage).
	ArenaBytes int
	// BlockSize is the snapshot block size; 0 means the package default.
	BlockSize int
	// Workers is the parallelism of the "all workers" figures; 0 means
	// GOMAXPROCS.
	Workers int
	// Runs is how many times each figure is measured; medians are reported.
	Runs int
	// Dir is where the snapshot file is written (a fresh subdirectory,
	// removed afterwards); "" means os.TempDir().
	Dir string
	// Seed chooses the arena image.
	Seed uint64
	// Placement: PinEngine pins the thread the one-core figures run on
	// (a restarting engine thread loads its snapshot there), Mlock locks
	// memory. What the kernel refuses is reported in the result, and the
	// run goes on unplaced.
	Placement placement.Options
}

// SnapFileResult is the outcome; its JSON field names are the contract of
// `cowbook bench snapshot-file --json`. Every rate is a median over Runs, in
// arena (uncompressed) bytes per second.
type SnapFileResult struct {
	// PlacementRefused lists what Placement asked for and the kernel
	// refused.
	PlacementRefused []string `json:"placement_refused,omitempty"`

	ArenaBytes int64   `json:"arena_bytes"`
	FileBytes  int64   `json:"file_bytes"`
	Ratio      float64 `json:"ratio"`
	BlockBytes int     `json:"block_bytes"`
	Blocks     int     `json:"blocks"`
	RawBlocks  int     `json:"raw_blocks"`
	Workers    int     `json:"workers"`
	Runs       int     `json:"runs"`

	// Write streams the image from memory through mmapsnap.Write: compress,
	// write, fsync, rename, fsync the directory.
	WriteBytesPerSec        float64 `json:"write_bytes_per_sec"`
	WriteBytesPerSecPerCore float64 `json:"write_bytes_per_sec_per_core"` // Write with one compressing worker
	// Load maps the (page-cached) file and decompresses into a pre-faulted
	// destination, checking every checksum (CRC32C of the stored bytes,
	// XXH3-64 of the uncompressed bytes).
	LoadBytesPerSec      float64 `json:"load_bytes_per_sec"`
	LoadBytesPerSec1Core float64 `json:"load_bytes_per_sec_1core"`
	// With Options.SkipRawCRC: only the CRCs of the file's bytes, each
	// checked right after its block is decompressed, one core (no raw
	// checksum).
	LoadSkipRawCRCBytesPerSec1Core float64 `json:"load_skip_raw_crc_bytes_per_sec_1core"`

	// Floors measured in the same run, one core each.
	MemcpyBytesPerSec        float64 `json:"memcpy_bytes_per_sec"`
	LZ4DecompressBytesPerSec float64 `json:"lz4_decompress_bytes_per_sec"` // same blocks, no CRC, no file
	LZ4CompressBytesPerSec   float64 `json:"lz4_compress_bytes_per_sec"`   // same blocks, CompressorCCompat, no CRC, no file

	// LoadVsLZ4Ratio is one-core Load over one-core raw LZ4 decompression
	// (target ≥ 0.8), LoadVsLZ4CPURatio the same in bytes per CPU-second of
	// the thread doing the work; LoadScaling is all-workers Load over
	// one-core Load; WriteVsLZ4Ratio is one-worker Write over raw one-core
	// compression. Each is the median of the ratios of interleaved runs.
	LoadVsLZ4Ratio              float64 `json:"load_vs_lz4_ratio"`
	LoadVsLZ4CPURatio           float64 `json:"load_vs_lz4_cpu_ratio"`
	LoadSkipRawCRCVsLZ4Ratio    float64 `json:"load_skip_raw_crc_vs_lz4_ratio"`
	LoadSkipRawCRCVsLZ4CPURatio float64 `json:"load_skip_raw_crc_vs_lz4_cpu_ratio"`
	LoadScaling                 float64 `json:"load_scaling"`
	// LoadParallelCPUEfficiency is all-workers Load in bytes per CPU-second
	// of the whole process over one-core Load in bytes per CPU-second of its
	// thread: 1 means parallel loading costs no extra CPU, so it scales with
	// whatever cores are free (what load_scaling cannot show on a busy
	// machine).
	LoadParallelCPUEfficiency float64 `json:"load_parallel_cpu_efficiency"`
	WriteVsLZ4Ratio           float64 `json:"write_per_core_vs_lz4_compress_ratio"`
}

// RunSnapFile builds the arena image, writes it as a snapshot and loads it
// back, and measures the floors on the same bytes.
func RunSnapFile(cfg SnapFileConfig) (SnapFileResult, error) {
	opts := mmapsnap.Options{BlockSize: cfg.BlockSize, Workers: cfg.Workers}
	opts.EnsureDefaults()
	if cfg.Runs <= 0 {
		cfg.Runs = 5
	}
	if cfg.ArenaBytes <= 0 {
		return SnapFileResult{}, fmt.Errorf("snapshot-file bench: arena bytes must be positive")
	}
	dir, err := os.MkdirTemp(cfg.Dir, "cowbook-snapfile-")
	if err != nil {
		return SnapFileResult{}, err
	}
	defer os.RemoveAll(dir)

	img := make([]byte, cfg.ArenaBytes)
	ArenaImage(img, cfg.Seed)
	dst := make([]byte, cfg.ArenaBytes)
	copy(dst, img) // pre-fault the destination, as a fresh arena would be
	size := float64(cfg.ArenaBytes)
	res := SnapFileResult{ArenaBytes: int64(cfg.ArenaBytes), BlockBytes: opts.BlockSize, Workers: opts.Workers, Runs: cfg.Runs}

	// The machine is shared and noisy, so each figure is measured several
	// times, interleaved with its floor, and the ratios are taken per round
	// before the median. One-core figures also record the calling thread's
	// CPU time (the work runs on it, locked), which other processes' load
	// does not inflate.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	refused, release := placeThread(cfg.Placement)
	defer release()
	res.PlacementRefused = refused
	type sample struct{ wall, cpu, procCPU float64 } // bytes per second
	measure := func(f func() error) (sample, error) {
		runtime.GC()
		c0, p0 := threadCPU(), processCPU()
		start := time.Now()
		if err := f(); err != nil {
			return sample{}, err
		}
		wall := time.Since(start).Seconds()
		cpu := (threadCPU() - c0).Seconds()
		proc := (processCPU() - p0).Seconds()
		return sample{size / wall, size / max(cpu, 1e-9), size / max(proc, 1e-9)}, nil
	}

	var info mmapsnap.Info
	write := func(workers int) func() error {
		return func() error {
			o := opts
			o.Workers = workers
			in, err := mmapsnap.Write(dir, mmapsnap.Meta{Seq: 1, ArenaSize: uint64(len(img))}, bytes.NewReader(img), o)
			info = in
			return err
		}
	}
	load := func(workers int, skipRaw bool) func() error {
		return func() error {
			o := opts
			o.Workers = workers
			o.SkipRawCRC = skipRaw
			_, err := mmapsnap.Load(info.Path, dst, o)
			return err
		}
	}
	bs := opts.BlockSize
	var c lz4.CompressorCCompat
	var blocks [][]byte
	scratch := make([]byte, lz4.CompressBlockBound(bs))
	compressAll := func(keep bool) error {
		for off := 0; off < len(img); off += bs {
			src := img[off:min(off+bs, len(img))]
			n, err := c.CompressBlock(src, scratch)
			if err != nil {
				return err
			}
			if keep {
				if n == 0 || n >= len(src) {
					blocks = append(blocks, nil) // stored raw: a copy
				} else {
					blocks = append(blocks, bytes.Clone(scratch[:n]))
				}
			}
		}
		return nil
	}
	if err := compressAll(true); err != nil {
		return res, err
	}
	decompressAll := func() error {
		for i, blk := range blocks {
			off := i * bs
			out := dst[off:min(off+bs, len(dst))]
			if blk == nil {
				copy(out, img[off:])
				continue
			}
			if _, err := lz4.UncompressBlock(blk, out); err != nil {
				return err
			}
		}
		return nil
	}

	var writeN, write1, compress, load1, load1Skip, loadN, lz4d, memcpy []sample
	var loadRatio, loadCPURatio, skipRatio, skipCPURatio, writeRatio, scaling, efficiency []float64
	step := func(f func() error, into *[]sample) (sample, error) {
		smp, err := measure(f)
		*into = append(*into, smp)
		return smp, err
	}
	for range cfg.Runs {
		if _, err := step(write(opts.Workers), &writeN); err != nil {
			return res, err
		}
		w1, err := step(write(1), &write1)
		if err != nil {
			return res, err
		}
		cz, err := step(func() error { return compressAll(false) }, &compress)
		if err != nil {
			return res, err
		}
		l1, err := step(load(1, false), &load1)
		if err != nil {
			return res, err
		}
		z, err := step(decompressAll, &lz4d)
		if err != nil {
			return res, err
		}
		ls, err := step(load(1, true), &load1Skip)
		if err != nil {
			return res, err
		}
		ln, err := step(load(opts.Workers, false), &loadN)
		if err != nil {
			return res, err
		}
		if _, err := step(func() error { copy(dst, img); return nil }, &memcpy); err != nil {
			return res, err
		}
		loadRatio = append(loadRatio, l1.wall/z.wall)
		loadCPURatio = append(loadCPURatio, l1.cpu/z.cpu)
		skipRatio = append(skipRatio, ls.wall/z.wall)
		skipCPURatio = append(skipCPURatio, ls.cpu/z.cpu)
		writeRatio = append(writeRatio, w1.wall/cz.wall)
		scaling = append(scaling, ln.wall/l1.wall)
		efficiency = append(efficiency, ln.procCPU/l1.cpu)
	}
	if err := load(opts.Workers, false)(); err != nil {
		return res, err
	}
	if !bytes.Equal(dst, img) {
		return res, fmt.Errorf("snapshot-file bench: loaded arena differs from the image")
	}
	res.FileBytes, res.Ratio, res.Blocks, res.RawBlocks = info.FileBytes, info.Ratio(), info.Blocks, info.RawBlocks
	wall := func(xs []sample) float64 {
		v := make([]float64, len(xs))
		for i, x := range xs {
			v[i] = x.wall
		}
		return median(v)
	}
	res.WriteBytesPerSec = wall(writeN)
	res.WriteBytesPerSecPerCore = wall(write1)
	res.LoadBytesPerSec = wall(loadN)
	res.LoadBytesPerSec1Core = wall(load1)
	res.MemcpyBytesPerSec = wall(memcpy)
	res.LZ4DecompressBytesPerSec = wall(lz4d)
	res.LZ4CompressBytesPerSec = wall(compress)
	res.LoadVsLZ4Ratio = median(loadRatio)
	res.LoadVsLZ4CPURatio = median(loadCPURatio)
	res.LoadSkipRawCRCBytesPerSec1Core = wall(load1Skip)
	res.LoadSkipRawCRCVsLZ4Ratio = median(skipRatio)
	res.LoadSkipRawCRCVsLZ4CPURatio = median(skipCPURatio)
	res.WriteVsLZ4Ratio = median(writeRatio)
	res.LoadScaling = median(scaling)
	res.LoadParallelCPUEfficiency = median(efficiency)
	return res, nil
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
