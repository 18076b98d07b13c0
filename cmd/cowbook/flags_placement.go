package main

import (
	"github.com/cowbook/cowbook/internal/placement"
	"github.com/urfave/cli/v2"
)

// placementFlags returns fresh --engine-cpu, --writer-cpu, --mlock and
// --prefault flags for serve and every bench command; read them back with
// placementOptions.
func placementFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "engine-cpu", Value: -1, Usage: "pin the engine thread to `CPU` (see `cowbook doctor` for isolated CPUs)"},
		&cli.IntFlag{Name: "writer-cpu", Value: -1, Usage: "pin the log writer thread and the snapshot helper to `CPU`"},
		&cli.BoolFlag{Name: "mlock", Usage: "lock all memory in RAM (mlockall); needs RLIMIT_MEMLOCK unlimited or CAP_IPC_LOCK"},
		&cli.BoolFlag{Name: "prefault", Usage: "fault in the arena before the first command"},
	}
}

// placementOptions reads the flags of placementFlags. A CPU flag counts
// only when given, so `--engine-cpu 0` pins to CPU 0.
func placementOptions(c *cli.Context) (placement.Options, error) {
	o := placement.Options{
		PinEngine: c.IsSet("engine-cpu"),
		EngineCPU: c.Int("engine-cpu"),
		PinWriter: c.IsSet("writer-cpu"),
		WriterCPU: c.Int("writer-cpu"),
		Mlock:     c.Bool("mlock"),
		Prefault:  c.Bool("prefault"),
	}
	return o, o.Validate()
}
