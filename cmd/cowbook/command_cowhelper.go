package main

import (
	"fmt"

	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/internal/placement"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/urfave/cli/v2"
)

// cowHelperName is the hidden command a node re-execs itself as to write
// snapshots (package cow starts it; never run by hand).
const cowHelperName = "__cow-helper"

func cowHelperCommand() *cli.Command {
	return &cli.Command{
		Name:   cowHelperName,
		Hidden: true,
		Usage:  "snapshot helper process (started by the node, fds 3 and 4 inherited)",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "dir", Required: true, Usage: "snapshot `DIR`"},
			&cli.IntFlag{Name: "keep", Value: 2, Usage: "keep the newest `K` snapshots"},
			&cli.StringFlag{Name: "format", Value: "mmapsnap", Usage: "`mmapsnap` (the node's) or raw (uncompressed, a floor)"},
			&cli.IntFlag{Name: "workers", Value: 1, Usage: "compression goroutines (`N`); one leaves the other CPUs to the engine"},
			&cli.BoolFlag{Name: "mlock", Usage: "lock the helper's memory in RAM (the node passes its own --mlock on)"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			var sink cow.Sink
			switch c.String("format") {
			case "mmapsnap":
				sink = cow.MmapsnapSink(dir, c.Int("keep"), mmapsnap.Options{Workers: c.Int("workers")})
			case "raw":
				sink = cow.RawFileSink(vfs.OS, dir, c.Int("keep"))
			default:
				return fmt.Errorf("%s: unknown --format %q (mmapsnap or raw)", cowHelperName, c.String("format"))
			}
			if c.Bool("mlock") {
				// A helper paged out in the middle of a snapshot would hold
				// the child, and the arena's copy-on-write pages, longer.
				if err := placement.LockMemory(); err != nil {
					return fmt.Errorf("%s: --mlock: %w", cowHelperName, err)
				}
			}
			return cow.ServeHelper(sink)
		},
	}
}

// cowHelperArgs are the helper's arguments for snapshot directory dir;
// mlock locks its memory as the node's own --mlock does.
func cowHelperArgs(dir string, keep int, format string, mlock bool) []string {
	args := []string{cowHelperName, "--dir", dir, "--keep", itoa(keep), "--format", format}
	if mlock {
		args = append(args, "--mlock")
	}
	return args
}
