package main

import (
	"fmt"

	"github.com/cowbook/cowbook/cow"
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
		},
		Action: func(c *cli.Context) error {
			dir := c.String("dir")
			switch c.String("format") {
			case "mmapsnap":
				return cow.ServeHelper(cow.MmapsnapSink(dir, c.Int("keep"), mmapsnap.Options{Workers: c.Int("workers")}))
			case "raw":
				return cow.ServeHelper(cow.RawFileSink(vfs.OS, dir, c.Int("keep")))
			}
			return fmt.Errorf("%s: unknown --format %q (mmapsnap or raw)", cowHelperName, c.String("format"))
		},
	}
}

// cowHelperArgs are the helper's arguments for snapshot directory dir.
func cowHelperArgs(dir string, keep int, format string) []string {
	return []string{cowHelperName, "--dir", dir, "--keep", itoa(keep), "--format", format}
}
