package perf

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

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
}

// SnapFileResult is the outcome; its JSON field names are the contract of
// `cowbook bench snapshot-file --json`. Every rate is a median over Runs, in
// arena (uncompressed) bytes per second.
type SnapFileResult struct {
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
	// destination, checking every CRC.
	LoadBytesPerSec      float64 `json:"load_bytes_per_sec"`
	LoadBytesPerSec1Core float64 `json:"load_bytes_per_sec_1core"`

	// Floors measured in the same run, one core each.
	MemcpyBytesPerSec        float64 `json:"memcpy_bytes_per_sec"`
	LZ4DecompressBytesPerSec float64 `json:"lz4_decompress_bytes_per_sec"` // same blocks, no CRC, no file
	LZ4CompressBytesPerSec   float64 `json:"lz4_compress_bytes_per_sec"`   // same blocks, CompressorCCompat, no CRC, no file

	// LoadVsLZ4Ratio is one-core Load over one-core raw LZ4 decompression
	// (target ≥ 0.8); LoadScaling is all-workers Load over one-core Load.
	LoadVsLZ4Ratio  float64 `json:"load_vs_lz4_ratio"`
	LoadScaling     float64 `json:"load_scaling"`
	WriteVsLZ4Ratio float64 `json:"write_per_core_vs_lz4_compress_ratio"`
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

	rate := func(f func() error) (float64, error) {
		var rates []float64
		for range cfg.Runs {
			runtime.GC()
			start := time.Now()
			if err := f(); err != nil {
				return 0, err
			}
			rates = append(rates, size/time.Since(start).Seconds())
		}
		slices.Sort(rates)
		return rates[len(rates)/2], nil
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
	if res.WriteBytesPerSec, err = rate(write(opts.Workers)); err != nil {
		return res, err
	}
	if res.WriteBytesPerSecPerCore, err = rate(write(1)); err != nil {
		return res, err
	}
	res.FileBytes, res.Ratio, res.Blocks, res.RawBlocks = info.FileBytes, info.Ratio(), info.Blocks, info.RawBlocks

	load := func(workers int) func() error {
		return func() error {
			o := opts
			o.Workers = workers
			_, err := mmapsnap.Load(info.Path, dst, o)
			return err
		}
	}
	if res.LoadBytesPerSec1Core, err = rate(load(1)); err != nil {
		return res, err
	}
	if res.LoadBytesPerSec, err = rate(load(opts.Workers)); err != nil {
		return res, err
	}
	if !bytes.Equal(dst, img) {
		return res, fmt.Errorf("snapshot-file bench: loaded arena differs from the image")
	}

	// Floors.
	if res.MemcpyBytesPerSec, err = rate(func() error { copy(dst, img); return nil }); err != nil {
		return res, err
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
	if res.LZ4CompressBytesPerSec, err = rate(func() error { return compressAll(false) }); err != nil {
		return res, err
	}
	if res.LZ4DecompressBytesPerSec, err = rate(func() error {
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
	}); err != nil {
		return res, err
	}
	res.LoadVsLZ4Ratio = res.LoadBytesPerSec1Core / res.LZ4DecompressBytesPerSec
	res.LoadScaling = res.LoadBytesPerSec / res.LoadBytesPerSec1Core
	res.WriteVsLZ4Ratio = res.WriteBytesPerSecPerCore / res.LZ4CompressBytesPerSec
	return res, nil
}
