package main

import (
	"fmt"

	"github.com/cowbook/cowbook/node"
	"github.com/cowbook/cowbook/walfile"
	"github.com/urfave/cli/v2"
)

func benchRecoveryCommand() *cli.Command {
	return &cli.Command{
		Name:  "recovery",
		Usage: "time a node's restart (RTO) from a snapshot of N resting orders plus M logged commands, and from genesis",
		Flags: append([]cli.Flag{dataFlag, jsonFlag,
			&cli.IntFlag{Name: "orders", Value: 1_000_000, Usage: "resting orders in the snapshot"},
			&cli.IntFlag{Name: "tail", Value: 1_000_000, Usage: "commands logged after the snapshot"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "restarts timed (the median is reported)"},
			&cli.BoolFlag{Name: "buffered", Usage: "log without O_DIRECT (tmpfs)"},
			&cli.Int64Flag{Name: "segment-size", Usage: "log segment size in bytes (0: the log's default)"},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			dir := c.String(dataFlag.Name)
			res, err := node.BenchRecovery(dir, c.Int("orders"), c.Int("tail"), max(1, c.Int("runs")), walfile.Options{Buffered: c.Bool("buffered"), SegmentSize: c.Int64("segment-size")}, place)
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "%d resting orders + %d tail commands (arena %d MiB, snapshot file %d MiB): RTO %.1f ms = the longer of snapshot load %.1f ms and log open %.1f ms (at once) + replay %.1f ms (%.2fM commands/s) + validate %.1f ms; from genesis %.1f ms\n",
				res.Orders, res.TailCommands, res.ArenaBytes>>20, res.SnapshotFileBytes>>20, res.RTOMs, res.SnapshotLoadMs, res.LogOpenMs, res.ReplayMs,
				res.ReplayCommandsPerSec/1e6, res.ValidateMs, res.GenesisRTOMs)
			if res.TailCommands > 0 {
				fmt.Fprintf(w, "  (that tail is uniformly random over the whole book, the worst case); with the standard workload as the tail: RTO %.1f ms, replay %.1f ms (%.2fM commands/s), validate %.1f ms\n",
					res.StandardTailRTOMs, res.StandardTailReplayMs, res.StandardTailReplayCommandsPerSec/1e6, res.StandardTailValidateMs)
			}
			fmt.Fprintf(w, "  with the log read from the disk (as after kill -9; the figures above are for restarts that follow each other): RTO %.1f ms, snapshot load %.1f ms, log open %.1f ms, replay %.1f ms\n",
				res.ColdLogRTOMs, res.ColdLogSnapLoadMs, res.ColdLogOpenMs, res.ColdLogReplayMs)
			fmt.Fprintf(w, "  the first restart, whose log had no segment prepared ahead (the figures above are for restarts that find one): RTO %.1f ms, log open %.1f ms\n",
				res.FirstRestartRTOMs, res.FirstRestartLogOpenMs)
			return nil
		},
	}
}
