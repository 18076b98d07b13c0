package main

import (
	"github.com/cowbook/cowbook/hostcheck"
	"github.com/urfave/cli/v2"
)

// doctorCommand inspects the host; it always exits 0, since it informs.
func doctorCommand() *cli.Command {
	return &cli.Command{
		Name:  "doctor",
		Usage: "check this host's kernel, CPU, memory and storage settings for low-latency, durable operation",
		Flags: []cli.Flag{
			dataFlag,
			jsonFlag,
			&cli.StringFlag{Name: "root", Value: "/", Usage: "read /proc and /sys under `DIR`, a copied tree (limits, statx and counters still come from this host)"},
		},
		Action: func(c *cli.Context) error {
			r := hostcheck.Run(hostcheck.Options{Root: c.String("root"), DataDir: c.String("data")})
			if c.Bool("json") {
				return writeJSON(c.App.Writer, r)
			}
			return r.WriteText(c.App.Writer)
		},
	}
}
