package main

import (
	"fmt"
	"os"
	"runtime/pprof"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

func benchEngineCommand() *cli.Command {
	return &cli.Command{
		Name:  "engine",
		Usage: "replay a command file (or a generated workload) through the engine: throughput, latency, allocations, book outcome",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Usage: "command `FILE` to replay (default: generate with --ops and --seed)"},
			&cli.IntFlag{Name: "ops", Value: perf.DefaultGenOps, Usage: "commands to generate when there is no --input"},
			&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the generated workload"},
			&cli.IntFlag{Name: "runs", Value: 5, Usage: "timed runs; figures are their median"},
			&cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the timed runs to `FILE`"},
			jsonFlag,
		},
		Action: func(c *cli.Context) error {
			var cmds []engine.Command
			var err error
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
			opts := perf.EngineBenchOptions{Commands: cmds, Runs: c.Int("runs")}
			if p := c.String("cpuprofile"); p != "" {
				f, err := os.Create(p)
				if err != nil {
					return err
				}
				defer f.Close()
				var perr error
				// One profile over all timed runs (engine set-up between
				// runs is included; it is small next to the runs).
				opts.BeforeRun = func(i int) {
					if i == 0 {
						perr = pprof.StartCPUProfile(f)
					}
				}
				opts.AfterRun = func(i int) {
					if i == opts.Runs-1 && perr == nil {
						pprof.StopCPUProfile()
					}
				}
				defer func() {
					if perr != nil {
						fmt.Fprintln(c.App.ErrWriter, "cpuprofile:", perr)
					}
				}()
			}
			res, err := perf.RunEngineBench(opts)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return writeJSON(c.App.Writer, res)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "workload      %s: %d commands, %d runs (median)\n", source, res.Ops, res.Runs)
			fmt.Fprintf(w, "throughput    %.2fM ops/s (%.1f ns/op); runs %s; replay floor %.0fM ops/s\n",
				res.OpsPerSec/1e6, res.NsPerOp, formatRuns(res.RunOpsPerSec), res.FloorOpsPerSec/1e6)
			fmt.Fprintf(w, "cpu           %.2fM ops per CPU-second of the replaying thread\n", res.OpsPerCPUSec/1e6)
			if res.NaiveOpsPerSec > 0 {
				fmt.Fprintf(w, "ceiling       unchecked array book %.2fM ops/s, %.2fM per CPU-second, in the same runs: engine at %.0f%% / %.0f%% of it (same trades: %v)\n",
					res.NaiveOpsPerSec/1e6, res.NaiveOpsPerCPUSec/1e6, 100*res.NaiveRatio, 100*res.NaiveRatioCPU, res.NaiveTradesMatch)
			}
			fmt.Fprintf(w, "latency       p50 %d ns, p99 %d ns, p99.9 %d ns, max %d ns (separate pass, every op timed; clock pair ≈ %d ns)\n",
				res.P50Ns, res.P99Ns, res.P999Ns, res.MaxNs, res.ClockNs)
			fmt.Fprintf(w, "allocations   %.4f per op\n", res.AllocsPerOp)
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
