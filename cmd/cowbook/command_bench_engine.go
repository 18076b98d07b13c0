package main

import (
	"fmt"
	"os"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

func benchEngineCommand() *cli.Command {
	return &cli.Command{
		Name:  "engine",
		Usage: "replay a command file (or a generated workload) through the engine: throughput, latency, allocations, book outcome",
		Flags: append(append([]cli.Flag{
			&cli.StringFlag{Name: "input", Usage: "command `FILE` to replay (default: generate with --ops and --seed)"},
			&cli.IntFlag{Name: "ops", Value: perf.DefaultGenOps, Usage: "commands to generate when there is no --input"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the generated workload"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "timed runs; figures are their median (profiles cover all of them: use more runs for more samples)"},
			jsonFlag,
		}, placementFlags()...), profileFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			var cmds []engine.Command
			source := ""
			if in := c.String("input"); in != "" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				cmds, err = engine.ReadAll(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", in, err)
				}
				source = in
			} else {
				opts := perf.GenOptions{Ops: c.Int("ops"), Seed: c.Uint64("seed")}
				if opts.Ops <= 0 {
					return fmt.Errorf("bench engine: --ops must be positive")
				}
				if cmds, err = perf.GenerateCommands(opts); err != nil {
					return err
				}
				source = fmt.Sprintf("cowbook gen --ops %d --seed %d", opts.Ops, opts.Seed)
			}
			opts := perf.EngineBenchOptions{Commands: cmds, Runs: c.Int("runs"), Placement: place}
			if c.String("cpuprofile") != "" || c.String("memprofile") != "" || c.String("trace") != "" {
				// Started around the timed runs' apply loops only.
				opts.Profile = func() (func() error, error) { return startProfiles(c) }
			}
			res, err := perf.RunEngineBench(opts)
			if err != nil {
				return err
			}
			// Refusals go to stderr too, so they are seen with --json.
			for _, refusal := range []string{res.Placement.PinError, res.Placement.MlockError} {
				if refusal != "" {
					fmt.Fprintln(c.App.ErrWriter, "bench engine: placement refused, running without it:", refusal)
				}
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, res)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "workload      %s: %d commands, %d runs (median)\n", source, res.Ops, res.Runs)
			fmt.Fprintf(w, "throughput    %.2fM ops/s (%.1f ns/op); runs %s; replay floor %.0fM ops/s\n",
				res.OpsPerSec/1e6, res.NsPerOp, formatRuns(res.RunOpsPerSec), res.FloorOpsPerSec/1e6)
			fmt.Fprintf(w, "cpu           %.2fM ops per CPU-second of the replaying thread\n", res.OpsPerCPUSec/1e6)
			if res.Placement.NaiveSkipped {
				fmt.Fprintf(w, "ceiling       not measured while profiling\n")
			} else if res.NaiveOpsPerSec > 0 {
				fmt.Fprintf(w, "ceiling       unchecked array book %.2fM ops/s, %.2fM per CPU-second, in the same runs: engine at %.0f%% / %.0f%% of it (same trades: %v)\n",
					res.NaiveOpsPerSec/1e6, res.NaiveOpsPerCPUSec/1e6, 100*res.NaiveRatio, 100*res.NaiveRatioCPU, res.NaiveTradesMatch)
			}
			fmt.Fprintf(w, "latency       p50 %d ns, p99 %d ns, p99.9 %d ns, max %d ns (separate pass, every op timed; clock pair ≈ %d ns)\n",
				res.P50Ns, res.P99Ns, res.P999Ns, res.MaxNs, res.ClockNs)
			fmt.Fprintf(w, "allocations   %.4f per op\n", res.AllocsPerOp)
			fmt.Fprintf(w, "counters      %s\n", formatCounters(res.Counters))
			fmt.Fprintf(w, "placement     %s\n", formatEnginePlacement(res.Placement))
			fmt.Fprintf(w, "book          %d resting orders, bid qty %d, ask qty %d\n", res.RestingOrders, res.BidQty, res.AskQty)
			fmt.Fprintf(w, "activity      %d events, %d trades, traded qty %d, %d rejects, %d cancels, %d replaces\n",
				res.Events, res.Trades, res.TradedQty, res.Rejects, res.Cancels, res.Replaces)
			fmt.Fprintf(w, "state         event hash %s, arena checksum %s (%d MiB arena)\n", res.StateHash, res.ArenaChecksum, res.ArenaBytes>>20)
			return nil
		},
	}
}

func formatRuns(v []float64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%.2fM", x/1e6)
	}
	return s
}

func formatCounters(p perf.CountersPerOp) string {
	if !p.Supported {
		return "not available: " + p.Reason
	}
	return fmt.Sprintf("%.1f cycles, %.1f instructions (IPC %.2f), %.2f cache misses, %.2f branch misses per op",
		p.CyclesPerOp, p.InstructionsPerOp, p.IPC, p.CacheMissesPerOp, p.BranchMissesPerOp)
}

func formatEnginePlacement(p perf.EnginePlacement) string {
	s := "engine thread not pinned"
	switch {
	case p.Pinned:
		s = fmt.Sprintf("engine thread pinned to CPU %d", p.EngineCPU)
	case p.PinError != "":
		s = "engine thread NOT pinned (refused: " + p.PinError + ")"
	}
	switch {
	case p.Mlock:
		s += "; memory locked"
	case p.MlockError != "":
		s += "; memory NOT locked (refused: " + p.MlockError + ")"
	}
	return s + "; arenas pre-faulted"
}
