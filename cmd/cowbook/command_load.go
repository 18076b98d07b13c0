package main

import (
	"fmt"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/node"
	"github.com/cowbook/cowbook/perf"
	"github.com/urfave/cli/v2"
)

// loadJSON is the --json output of `cowbook load`.
type loadJSON struct {
	Conns             int     `json:"conns"`
	Rate              int     `json:"rate_per_sec"`
	Seconds           float64 `json:"seconds"`
	Requests          uint64  `json:"requests"`
	Acked             uint64  `json:"acked"`
	Rejected          uint64  `json:"rejected"`
	AckedOrdersPerSec float64 `json:"acked_orders_per_sec"`
	AckP50Us          float64 `json:"ack_p50_us"`
	AckP99Us          float64 `json:"ack_p99_us"`
	AckP999Us         float64 `json:"ack_p999_us"`
	AckMaxUs          float64 `json:"ack_max_us"`
	// With --rate: latency from the scheduled send time alone, and the
	// lateness of the sender's timer (client.LoadOptions.Rate).
	AckFromScheduleP50Us float64 `json:"ack_from_schedule_p50_us,omitempty"`
	AckFromScheduleP99Us float64 `json:"ack_from_schedule_p99_us,omitempty"`
	SenderLateP50Us      float64 `json:"sender_late_p50_us,omitempty"`
	SenderLateP99Us      float64 `json:"sender_late_p99_us,omitempty"`
}

func loadCommand() *cli.Command {
	return &cli.Command{
		Name:  "load",
		Usage: "drive a node with resting orders and cancels over the protocol and measure acked orders/s and ack latency",
		Flags: []cli.Flag{addrFlag, jsonFlag,
			&cli.IntFlag{Name: "conns", Value: 4, Usage: "connections (each its own client id)"},
			&cli.IntFlag{Name: "window", Value: 256, Usage: "requests in flight per connection"},
			&cli.IntFlag{Name: "rate", Usage: "total requests per second (0: closed loop)"},
			&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Usage: "length of the run"},
			&cli.StringFlag{Name: "symbol", Value: "AAPL", Usage: "symbol to trade"},
			&cli.Int64Flag{Name: "price", Value: 1000, Usage: "mid price; orders rest below (buys) and above (sells)"},
			&cli.Uint64Flag{Name: "client-base", Value: 1 << 32, Usage: "connection k uses client id BASE+k+1"},
		},
		Action: func(c *cli.Context) error {
			out, err := runLoad(c)
			if err != nil {
				return err
			}
			if c.Bool(jsonFlag.Name) {
				return writeJSON(c.App.Writer, out)
			}
			fmt.Fprintf(c.App.Writer, "%d conns, %.1f s: %d requests, %d acked, %d rejected: %.0f acked orders/s; ack latency p50 %.1f µs, p99 %.1f µs, p99.9 %.1f µs, max %.1f µs\n",
				out.Conns, out.Seconds, out.Requests, out.Acked, out.Rejected, out.AckedOrdersPerSec, out.AckP50Us, out.AckP99Us, out.AckP999Us, out.AckMaxUs)
			if out.Rate > 0 {
				fmt.Fprintf(c.App.Writer, "from the scheduled send time: p50 %.1f µs, p99 %.1f µs (the sender's timer woke p50 %.1f µs, p99 %.1f µs late)\n",
					out.AckFromScheduleP50Us, out.AckFromScheduleP99Us, out.SenderLateP50Us, out.SenderLateP99Us)
			}
			return nil
		},
	}
}

func runLoad(c *cli.Context) (loadJSON, error) {
	sym, ok := wire.MakeSymbol(c.String("symbol"))
	if !ok {
		return loadJSON{}, fmt.Errorf("bad symbol %q", c.String("symbol"))
	}
	mid := c.Int64("price")
	conns := c.Int("conns")
	base := uint64(time.Now().UnixNano()) << 20 // fresh order ids on every run
	opts := client.LoadOptions{
		Conns: conns, Window: c.Int("window"), Rate: c.Int("rate"), Duration: c.Duration("duration"),
		ClientIDBase: c.Uint64("client-base"),
		Next:         node.LoadPattern(sym, mid, base),
	}
	res, err := client.Load(c.Context, c.String(addrFlag.Name), opts)
	if err != nil {
		return loadJSON{}, err
	}
	hus := func(h *perf.Histogram, q float64) float64 { return float64(h.Quantile(q)) / 1e3 }
	us := func(q float64) float64 { return hus(res.Latency, q) }
	out := loadJSON{Conns: conns, Rate: opts.Rate, Seconds: res.Seconds, Requests: res.Requests, Acked: res.Acked,
		Rejected: res.Rejected, AckedOrdersPerSec: res.AckedRate, AckP50Us: us(0.5), AckP99Us: us(0.99),
		AckP999Us: us(0.999), AckMaxUs: float64(res.Latency.Max()) / 1e3}
	if res.FromSchedule != nil {
		out.AckFromScheduleP50Us, out.AckFromScheduleP99Us = hus(res.FromSchedule, 0.5), hus(res.FromSchedule, 0.99)
		out.SenderLateP50Us, out.SenderLateP99Us = hus(res.SenderLate, 0.5), hus(res.SenderLate, 0.99)
	}
	return out, nil
}
