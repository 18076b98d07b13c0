package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

func genCommand() *cli.Command {
	return &cli.Command{
		Name:  "gen",
		Usage: "write a seeded, realistic command file (docs/command-file.md); --seed 1 with the default --ops is the standard workload",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "ops", Value: perf.DefaultGenOps, Usage: "number of commands, symbol definitions included"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "random seed"},
			&cli.IntFlag{Name: "symbols", Value: 1, Usage: "number of symbols"},
			&cli.StringFlag{Name: "out", Usage: "output `FILE` (default: stdout)"},
		},
		Action: func(c *cli.Context) error {
			opts := perf.GenOptions{Ops: c.Int("ops"), Seed: c.Uint64("seed"), Symbols: c.Int("symbols")}
			if opts.Ops <= 0 {
				return fmt.Errorf("gen: --ops must be positive")
			}
			if c.String("out") == "" {
				w := bufio.NewWriter(c.App.Writer)
				if err := perf.WriteWorkload(w, opts); err != nil {
					return err
				}
				return w.Flush()
			}
			f, err := os.Create(c.String("out"))
			if err != nil {
				return err
			}
			if err := perf.WriteWorkload(f, opts); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
}
