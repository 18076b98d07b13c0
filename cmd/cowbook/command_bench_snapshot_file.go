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
		Flags: append([]cli.Flag{
			jsonFlag,
			&cli.IntFlag{Name: "arena-bytes", Value: 256 << 20, Usage: "size of the synthetic arena image", Destination: &cfg.ArenaBytes},
			&cli.IntFlag{Name: "block-bytes", Value: mmapsnap.DefaultBlockSize, Usage: "snapshot block size", Destination: &cfg.BlockSize},
			&cli.IntFlag{Name: "workers", Usage: "workers for the all-core figures (0: GOMAXPROCS)", Destination: &cfg.Workers},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "repetitions of each figure; medians are reported", Destination: &cfg.Runs},
			&cli.StringFlag{Name: "dir", Usage: "directory for the snapshot file (default: the system temp dir)", Destination: &cfg.Dir},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			if place.PinWriter {
				return fmt.Errorf("bench snapshot-file: --writer-cpu does not apply: there is no log writer or snapshot helper here (--engine-cpu pins the one-core figures' thread)")
			}
			// The load destination is always pre-faulted, as a fresh arena
			// is; --prefault changes nothing.
			cfg.Seed, cfg.Placement = 1, place
			res, err := perf.RunSnapFile(cfg)
			if err != nil {
				return err
			}
			for _, r := range res.PlacementRefused {
				fmt.Fprintln(c.App.ErrWriter, "bench snapshot-file: placement refused, running without it:", r)
			}
			if c.Bool(jsonFlag.Name) {
				return writeJSON(c.App.Writer, res)
			}
			w := c.App.Writer
			mb := func(v float64) string { return fmt.Sprintf("%8.0f MB/s", v/1e6) }
			fmt.Fprintf(w, "arena %d bytes -> file %d bytes (ratio %.2f), %d blocks of %d (%d raw), %d workers, median of %d runs\n",
				res.ArenaBytes, res.FileBytes, res.Ratio, res.Blocks, res.BlockBytes, res.RawBlocks, res.Workers, res.Runs)
			line := func(what string, v float64, note string) {
				if note != "" {
					note = "  " + note
				}
				fmt.Fprintf(w, "%-28s %s%s\n", what, mb(v), note)
			}
			line(fmt.Sprintf("write, %d workers", res.Workers), res.WriteBytesPerSec, "")
			line("write, 1 worker", res.WriteBytesPerSecPerCore, fmt.Sprintf("(%.2f x raw LZ4 compress)", res.WriteVsLZ4Ratio))
			line("load, 1 worker", res.LoadBytesPerSec1Core, fmt.Sprintf("(%.2f x raw LZ4 decompress; %.2f in CPU time)", res.LoadVsLZ4Ratio, res.LoadVsLZ4CPURatio))
			line("load, 1 worker, SkipRawCRC", res.LoadSkipRawCRCBytesPerSec1Core, fmt.Sprintf("(%.2f x raw LZ4 decompress; %.2f in CPU time)", res.LoadSkipRawCRCVsLZ4Ratio, res.LoadSkipRawCRCVsLZ4CPURatio))
			line(fmt.Sprintf("load, %d workers", res.Workers), res.LoadBytesPerSec, fmt.Sprintf("(%.2f x 1 worker; CPU efficiency %.2f)", res.LoadScaling, res.LoadParallelCPUEfficiency))
			line("floor: memcpy", res.MemcpyBytesPerSec, "")
			line("floor: raw LZ4 decompress", res.LZ4DecompressBytesPerSec, "")
			line("floor: raw LZ4 compress", res.LZ4CompressBytesPerSec, "")
			return nil
		},
	}
}
