package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// benchCommand groups the benchmarks. Each subcommand lives in its own
// command_bench_<name>.go and takes --json.
func benchCommand() *cli.Command {
	benches := []*cli.Command{
		// One entry per command_bench_<name>.go.
		benchSnapshotFileCommand(),
		benchEngineCommand(),
		benchWALCommand(),
		benchRecoveryCommand(),
		benchE2ECommand(),
		benchSnapshotCommand(),
	}
	for _, b := range benches {
		withBenchBasics(b)
	}
	return &cli.Command{
		Name:        "bench",
		Usage:       "measure the engine, the log, snapshots and recovery against floors measured in the same run",
		Subcommands: append([]*cli.Command{benchAllCommand()}, benches...),
	}
}

// withBenchBasics gives a benchmark what every benchmark promises: the
// profile flags (--cpuprofile, --memprofile, --trace covering the whole run,
// unless the benchmark declares them itself to scope them to its timed
// part) and a --data directory that exists before the run starts.
func withBenchBasics(cmd *cli.Command) {
	action := cmd.Action
	hasData, ownProfiles := false, false
	for _, f := range cmd.Flags {
		for _, n := range f.Names() {
			hasData = hasData || n == dataFlag.Name
			ownProfiles = ownProfiles || n == "cpuprofile"
		}
	}
	if !ownProfiles {
		cmd.Flags = append(cmd.Flags, profileFlags()...)
	}
	cmd.Action = func(c *cli.Context) (err error) {
		if hasData {
			if err := os.MkdirAll(c.String(dataFlag.Name), 0o755); err != nil {
				return fmt.Errorf("bench %s: %w", cmd.Name, err)
			}
		}
		if !ownProfiles {
			stop, err := startProfiles(c)
			if err != nil {
				return err
			}
			defer func() {
				if serr := stop(); err == nil {
					err = serr
				}
			}()
		}
		return action(c)
	}
}
