package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/node"
	"github.com/urfave/cli/v2"
)

// snapshotNowCommand asks the serve process of a data directory for a
// snapshot (SIGUSR1 to the pid in DIR/serve.pid) and waits until the node
// reports a newer one.
func snapshotNowCommand() *cli.Command {
	return &cli.Command{
		Name:  "now",
		Usage: "make the running node take a snapshot now and wait until it is published",
		Flags: []cli.Flag{dataFlag, addrFlag, clientIDFlag,
			&cli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			dir := c.String(dataFlag.Name)
			b, err := os.ReadFile(filepath.Join(dir, pidFileName))
			if err != nil {
				return fmt.Errorf("no running node for %s: %w", dir, err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				return fmt.Errorf("%s: bad pid: %w", pidFileName, err)
			}
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			cl, err := client.Dial(ctx, c.String(addrFlag.Name), client.Options{ClientID: defaultClientID(c)})
			if err != nil {
				return err
			}
			defer cl.Close()
			before, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			if before.Seq == before.SnapshotSeq {
				fmt.Fprintf(c.App.Writer, "snapshot at seq %d is current\n", before.SnapshotSeq)
				return nil
			}
			if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
				return fmt.Errorf("signalling node %d: %w", pid, err)
			}
			for {
				st, err := cl.Status(ctx)
				if err != nil {
					return err
				}
				if st.SnapshotSeq >= before.Seq {
					fmt.Fprintf(c.App.Writer, "snapshot at seq %d published\n", st.SnapshotSeq)
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
			}
		},
	}
}

// snapshotDumpCommand prints the book a snapshot file holds.
func snapshotDumpCommand() *cli.Command {
	return &cli.Command{
		Name:      "dump",
		Usage:     "print symbols, best prices, depth and order count held in a snapshot FILE",
		ArgsUsage: "FILE",
		Flags: []cli.Flag{jsonFlag,
			&cli.IntFlag{Name: "depth", Value: 5, Usage: "price levels per side (0: all)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: cowbook snapshot dump FILE")
			}
			path := c.Args().First()
			in, _, err := mmapsnap.Inspect(path, mmapsnap.Options{})
			if err != nil {
				return err
			}
			mem, err := engine.AllocArena(int(in.ArenaSize))
			if err != nil {
				return err
			}
			defer engine.FreeArena(mem)
			if _, err := mmapsnap.Load(path, mem, mmapsnap.Options{}); err != nil {
				return err
			}
			e, err := engine.Attach(mem)
			if err != nil {
				return err
			}
			defer e.Close()
			return printSummary(c.App.Writer, node.Summarize(e, c.Int("depth")), c.Bool(jsonFlag.Name))
		},
	}
}

// printSummary prints an engine state as replay and snapshot dump show it.
func printSummary(w io.Writer, s node.StateSummary, asJSON bool) error {
	if asJSON {
		return writeJSON(w, s)
	}
	fmt.Fprintf(w, "seq %d  state hash %016x  event hash %016x  resting orders %d  trades %d\n",
		s.Seq, s.StateHash, s.EventHash, s.RestingOrders, s.Trades)
	for _, b := range s.Books {
		bid, ask := "-", "-"
		if b.BestBid != nil {
			bid = fmt.Sprintf("%d x %d", b.BestBid.Qty, b.BestBid.Price)
		}
		if b.BestAsk != nil {
			ask = fmt.Sprintf("%d @ %d", b.BestAsk.Qty, b.BestAsk.Price)
		}
		fmt.Fprintf(w, "%-8s bid %-16s ask %-16s orders %d/%d\n", b.Symbol, bid, ask, b.BidOrders, b.AskOrders)
		for i := 0; i < len(b.Bids) || i < len(b.Asks); i++ {
			l, r := "", ""
			if i < len(b.Bids) {
				l = fmt.Sprintf("%d x %d (%d)", b.Bids[i].Qty, b.Bids[i].Price, b.Bids[i].Orders)
			}
			if i < len(b.Asks) {
				r = fmt.Sprintf("%d @ %d (%d)", b.Asks[i].Qty, b.Asks[i].Price, b.Asks[i].Orders)
			}
			fmt.Fprintf(w, "         %-26s %s\n", l, r)
		}
	}
	return nil
}
