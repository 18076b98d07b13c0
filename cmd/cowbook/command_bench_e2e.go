package main

import (
	"fmt"
	"time"

	"github.com/cowbook/cowbook/node"
	"github.com/cowbook/cowbook/walfile"
	"github.com/urfave/cli/v2"
)

func benchE2ECommand() *cli.Command {
	return &cli.Command{
		Name:  "e2e",
		Usage: "acked orders/s and ack latency through a node over loopback with durability on, against the raw fdatasync floor",
		Flags: append([]cli.Flag{dataFlag, jsonFlag,
			&cli.IntFlag{Name: "conns", Value: 16, Usage: "closed-loop connections"},
			&cli.IntFlag{Name: "window", Value: 256, Usage: "requests in flight per connection in the closed loop"},
			&cli.IntFlag{Name: "rate", Value: 20_000, Usage: "moderate open-loop rate, requests per second"},
			&cli.DurationFlag{Name: "duration", Value: 5 * time.Second, Usage: "length of each phase"},
			&cli.IntFlag{Name: "floor-samples", Value: 1000, Usage: "4 KiB pwrite+fdatasync samples for the floor"},
			&cli.BoolFlag{Name: "buffered", Usage: "log without O_DIRECT (tmpfs)"},
			&cli.DurationFlag{Name: "engine-spin", Value: defaultEngineSpin, Usage: "let the idle engine thread poll this long before it parks, as serve does (0: off)"},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			res, err := node.BenchE2E(node.E2EConfig{
				Dir: c.String(dataFlag.Name), Conns: c.Int("conns"), Window: c.Int("window"), Rate: c.Int("rate"),
				Duration: c.Duration("duration"), FloorSamples: c.Int("floor-samples"),
				Log: walfile.Options{Buffered: c.Bool("buffered")}, Placement: node.Options{Placement: place, EngineSpin: c.Duration("engine-spin")},
			})
			if err != nil {
				return err
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "floor: 4 KiB pwrite+fdatasync p50 %.1f µs  p99 %.1f µs\n", res.FloorFdatasyncP50Us, res.FloorFdatasyncP99Us)
			fmt.Fprintf(w, "moderate, %d req/s: ack p50 %.1f µs (%.2f × floor)  p99 %.1f µs  p99.9 %.1f µs\n",
				res.ModerateRatePerSec, res.ModerateAckP50Us, res.AckP50FloorRatio, res.ModerateAckP99Us, res.ModerateAckP999Us)
			fmt.Fprintf(w, "  from the scheduled send time: p50 %.1f µs  p99 %.1f µs (the load generator's timer woke p50 %.1f µs, p99 %.1f µs late)\n",
				res.ModerateAckFromScheduleP50Us, res.ModerateAckFromScheduleP99Us, res.ModerateSenderLateP50Us, res.ModerateSenderLateP99Us)
			fmt.Fprintf(w, "closed loop, %d conns: %.0f acked orders/s  ack p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs\n",
				res.ClosedConns, res.ClosedAckedOrdersPerSec, res.ClosedAckP50Us, res.ClosedAckP99Us, res.ClosedAckP999Us)
			return nil
		},
	}
}
