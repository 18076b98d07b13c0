package main

import (
	"github.com/cowbook/cowbook/cow"
	"github.com/cowbook/cowbook/internal/vfs"
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
		},
		Action: func(c *cli.Context) error {
			// Until the node wires its mmapsnap writer in, the helper writes
			// the raw (uncompressed) image.
			return cow.ServeHelper(cow.RawFileSink(vfs.OS, c.String("dir"), c.Int("keep")))
		},
	}
}

// cowHelperArgs are the helper's arguments for snapshot directory dir.
func cowHelperArgs(dir string, keep int) []string {
	return []string{cowHelperName, "--dir", dir, "--keep", itoa(keep)}
}
