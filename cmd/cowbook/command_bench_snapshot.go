package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

func benchSnapshotCommand() *cli.Command {
	return &cli.Command{
		Name:  "snapshot",
		Usage: "fork pause, stop-the-world pause, snapshot time and copy-on-write cost of snapshots of the engine's arena",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "orders", Value: 1_000_000, Usage: "size the arena like `N` resting orders"},
			&cli.BoolFlag{Name: "synthetic", Usage: "snapshot a synthetic arena written at random instead of the engine's"},
			&cli.IntFlag{Name: "bytes-per-order", Value: 128, Usage: "synthetic arena `BYTES` per resting order"},
			&cli.StringFlag{Name: "workload", Value: perf.WorkloadStandard, Usage: "what the engine applies during snapshots: standard (the standard workload beside the book), churn (uniform cancels over the whole book, the copy-on-write worst case) or both (standard, plus churn_* fields)"},
			&cli.IntFlag{Name: "workload-ops", Usage: "`N` commands per pass of the standard workload (default: the standard workload's 2,000,000)"},
			&cli.BoolFlag{Name: "share-index", Usage: "leave the engine's order-id index shared copy-on-write with the child instead of detaching it (for comparison)"},
			&cli.IntFlag{Name: "snapshots", Value: 20, Usage: "snapshots per phase (at least 20)"},
			&cli.StringFlag{Name: "format", Value: "mmapsnap", Usage: "snapshot file `FORMAT`: mmapsnap (the node's) or raw (uncompressed floor)"},
			dataFlag,
			jsonFlag,
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			pl, err := placementOptions(c)
			if err != nil {
				return err
			}
			// Snapshots go to a fresh DATA/snap-bench-* directory, removed
			// afterwards, so that concurrent runs never share one.
			if err := os.MkdirAll(c.String("data"), 0o755); err != nil {
				return err
			}
			dir, err := os.MkdirTemp(c.String("data"), "snap-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			o := perf.SnapBenchOptions{
				Orders:        c.Int("orders"),
				Synthetic:     c.Bool("synthetic"),
				BytesPerOrder: c.Int("bytes-per-order"),
				Workload:      c.String("workload"),
				StandardOps:   c.Int("workload-ops"),
				ShareIndex:    c.Bool("share-index"),
				Snapshots:     c.Int("snapshots"),
				Helper:        cow.Options{HelperArgs: cowHelperArgs(dir, 2, c.String("format"), pl.Mlock)},
				Placement:     pl,
				Format:        c.String("format"),
			}
			if !c.Bool("json") {
				o.Log = func(format string, args ...any) { fmt.Fprintf(c.App.Writer, format+"\n", args...) }
			}
			res, err := perf.SnapBench(o)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, res)
			}
			fmt.Fprintf(c.App.Writer, "arena %d MiB (%d orders): fork pause p50 %.0f µs p99 %.0f µs max %.0f µs; stw p50 %.0f µs; ratio %.0fx; throughput during/idle %.2f (%s)\n",
				res.ArenaBytes>>20, res.Orders, res.ForkPauseP50Us, res.ForkPauseP99Us, res.ForkPauseMaxUs, res.StwPauseP50Us, res.PauseRatio, res.ThroughputRatio, res.WorkloadName)
			if res.ChurnOpsPerSecIdle > 0 {
				fmt.Fprintf(c.App.Writer, "churn: throughput during/idle %.2f\n", res.ChurnThroughputRatio)
			}
			return nil
		},
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
