package main

import (
	"fmt"

	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

func benchSnapshotFileCommand() *cli.Command {
	var cfg perf.SnapFileConfig
	return &cli.Command{
		Name:  "snapshot-file",
		Usage: "snapshot file write and load throughput on a synthetic arena, against memcpy and raw LZ4 floors",
		Flags: []cli.Flag{
			jsonFlag,
			&cli.IntFlag{Name: "arena-bytes", Value: 256 << 20, Usage: "size of the synthetic arena image", Destination: &cfg.ArenaBytes},
			&cli.IntFlag{Name: "block-bytes", Value: mmapsnap.DefaultBlockSize, Usage: "snapshot block size", Destination: &cfg.BlockSize},
			&cli.IntFlag{Name: "workers", Usage: "workers for the all-core figures (0: GOMAXPROCS)", Destination: &cfg.Workers},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "repetitions of each figure; medians are reported", Destination: &cfg.Runs},
			&cli.StringFlag{Name: "dir", Usage: "directory for the snapshot file (default: the system temp dir)", Destination: &cfg.Dir},
		},
		Action: func(c *cli.Context) error {
			cfg.Seed = 1
			res, err := perf.RunSnapFile(cfg)
			if err != nil {
				return err
			}
			if c.Bool(jsonFlag.Name) {
				return writeJSON(c.App.Writer, res)
			}
			w := c.App.Writer
			mb := func(v float64) string { return fmt.Sprintf("%8.0f MB/s", v/1e6) }
			fmt.Fprintf(w, "arena %d bytes -> file %d bytes (ratio %.2f), %d blocks of %d (%d raw), %d workers, median of %d runs\n",
				res.ArenaBytes, res.FileBytes, res.Ratio, res.Blocks, res.BlockBytes, res.RawBlocks, res.Workers, res.Runs)
			fmt.Fprintf(w, "write, %d workers       %s\n", res.Workers, mb(res.WriteBytesPerSec))
			fmt.Fprintf(w, "write, 1 worker          %s  (%.2f x raw LZ4 compress)\n", mb(res.WriteBytesPerSecPerCore), res.WriteVsLZ4Ratio)
			fmt.Fprintf(w, "load, 1 worker           %s  (%.2f x raw LZ4 decompress)\n", mb(res.LoadBytesPerSec1Core), res.LoadVsLZ4Ratio)
			fmt.Fprintf(w, "load, %d workers        %s  (%.2f x 1 worker)\n", res.Workers, mb(res.LoadBytesPerSec), res.LoadScaling)
			fmt.Fprintf(w, "floor: memcpy            %s\n", mb(res.MemcpyBytesPerSec))
			fmt.Fprintf(w, "floor: LZ4 decompress    %s\n", mb(res.LZ4DecompressBytesPerSec))
			fmt.Fprintf(w, "floor: LZ4 compress      %s\n", mb(res.LZ4CompressBytesPerSec))
			return nil
		},
	}
}
