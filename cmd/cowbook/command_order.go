package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/urfave/cli/v2"
)

var clientIDFlag = &cli.Uint64Flag{Name: "client-id", Usage: "client `ID` (request ids are deduplicated per client id; default: derived from the process id)"}

func defaultClientID(c *cli.Context) uint64 {
	if id := c.Uint64(clientIDFlag.Name); id != 0 {
		return id
	}
	return 1<<62 | uint64(os.Getpid())
}

func orderCommand() *cli.Command {
	return &cli.Command{
		Name:      "order",
		Usage:     "send one command to a node and print its outcome and execution reports",
		ArgsUsage: "new SYMBOL B|S PRICE QTY | cancel SYMBOL | replace SYMBOL PRICE QTY",
		Flags: []cli.Flag{
			addrFlag, clientIDFlag, jsonFlag,
			&cli.Uint64Flag{Name: "id", Usage: "order `ID` (required)"},
			&cli.Uint64Flag{Name: "account", Value: 1, Usage: "account"},
			&cli.StringFlag{Name: "tif", Value: "GTC", Usage: "GTC, IOC, FOK or POST"},
			&cli.BoolFlag{Name: "market", Usage: "market order (PRICE must be 0)"},
			&cli.DurationFlag{Name: "wait", Value: 200 * time.Millisecond, Usage: "how long to wait for execution reports after the outcome"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			req, err := parseOrder(c)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			reports := make(chan client.Report, 64)
			cl, err := client.Dial(ctx, c.String(addrFlag.Name), client.Options{ClientID: defaultClientID(c),
				OnReport: func(r client.Report) {
					select {
					case reports <- r:
					default:
					}
				}})
			if err != nil {
				return err
			}
			defer cl.Close()
			done := make(chan client.Result, 1)
			if _, err := cl.Submit(ctx, req, done); err != nil {
				return err
			}
			var res client.Result
			select {
			case res = <-done:
			case <-ctx.Done():
				return ctx.Err()
			}
			if res.Err != nil {
				return res.Err
			}
			var got []client.Report
			timer := time.NewTimer(c.Duration("wait"))
		wait:
			for {
				select {
				case r := <-reports:
					got = append(got, r)
				case <-timer.C:
					break wait
				}
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				type rep struct {
					Type string `json:"type"`
					Text string `json:"text"`
				}
				out := struct {
					ReqID   uint64 `json:"request_id"`
					Seq     uint64 `json:"seq"`
					Acked   bool   `json:"acked"`
					Reason  string `json:"reason,omitempty"`
					Reports []rep  `json:"reports"`
				}{ReqID: res.ReqID, Seq: res.Seq, Acked: res.Acked(), Reports: []rep{}}
				if !res.Acked() {
					out.Reason = res.Reason.String()
				}
				for _, r := range got {
					out.Reports = append(out.Reports, rep{Type: r.Type.String(), Text: r.String()})
				}
				return writeJSON(w, out)
			}
			fmt.Fprintln(w, res)
			for _, r := range got {
				fmt.Fprintln(w, r)
			}
			return nil
		},
	}
}

func parseOrder(c *cli.Context) (client.Request, error) {
	args := c.Args().Slice()
	var req client.Request
	usage := fmt.Errorf("usage: cowbook order %s", c.Command.ArgsUsage)
	if len(args) < 2 {
		return req, usage
	}
	s, ok := wire.MakeSymbol(args[1])
	if !ok {
		return req, fmt.Errorf("bad symbol %q", args[1])
	}
	req.Symbol, req.OrderID = s, c.Uint64("id")
	if req.OrderID == 0 {
		return req, fmt.Errorf("--id is required and not 0")
	}
	num := func(i int) (int64, error) {
		var v int64
		_, err := fmt.Sscan(args[i], &v)
		if err != nil {
			return 0, fmt.Errorf("argument %d (%q): not an integer", i+1, args[i])
		}
		return v, nil
	}
	var err error
	switch strings.ToLower(args[0]) {
	case "new":
		if len(args) != 5 {
			return req, usage
		}
		req.Kind, req.Account, req.Type = wire.TypeNewOrder, c.Uint64("account"), wire.Limit
		switch strings.ToUpper(args[2]) {
		case "B", "BUY":
			req.Side = wire.Buy
		case "S", "SELL":
			req.Side = wire.Sell
		default:
			return req, fmt.Errorf("side %q: want B or S", args[2])
		}
		if c.Bool("market") {
			req.Type = wire.Market
		}
		switch strings.ToUpper(c.String("tif")) {
		case "GTC":
			req.TIF = wire.GTC
		case "IOC":
			req.TIF = wire.IOC
		case "FOK":
			req.TIF = wire.FOK
		case "POST":
			req.TIF = wire.POST
		default:
			return req, fmt.Errorf("--tif %q: want GTC, IOC, FOK or POST", c.String("tif"))
		}
		if req.Price, err = num(3); err != nil {
			return req, err
		}
		req.Qty, err = num(4)
	case "cancel":
		if len(args) != 2 {
			return req, usage
		}
		req.Kind = wire.TypeCancel
	case "replace":
		if len(args) != 4 {
			return req, usage
		}
		req.Kind = wire.TypeReplace
		if req.Price, err = num(2); err != nil {
			return req, err
		}
		req.Qty, err = num(3)
	default:
		return req, usage
	}
	return req, err
}
