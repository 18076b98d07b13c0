package main

import (
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

// profileFlags returns fresh --cpuprofile, --memprofile and --trace flags
// for every bench command; start them with startProfiles.
func profileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile to `FILE` (go tool pprof)"},
		&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile to `FILE` when the run ends"},
		&cli.StringFlag{Name: "trace", Usage: "write a runtime execution trace to `FILE` (go tool trace)"},
	}
}

// startProfiles starts what the profile flags ask for; call stop when the
// measured work ends (before printing results, so output is not profiled).
func startProfiles(c *cli.Context) (stop func() error, err error) {
	return perf.StartProfiles(perf.Profiles{
		CPU:   c.String("cpuprofile"),
		Mem:   c.String("memprofile"),
		Trace: c.String("trace"),
	})
}
