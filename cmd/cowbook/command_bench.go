package main

import "github.com/urfave/cli/v2"

// benchCommand groups the benchmarks. Each subcommand lives in its own
// command_bench_<name>.go and takes --json.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the engine, the log, snapshots and recovery against floors measured in the same run",
		Subcommands: []*cli.Command{
			// One entry per command_bench_<name>.go.
			benchAllCommand(),
			benchSnapshotFileCommand(),
			benchEngineCommand(),
			benchWALCommand(),
			benchRecoveryCommand(),
			benchE2ECommand(),
			benchSnapshotCommand(),
		},
	}
}
