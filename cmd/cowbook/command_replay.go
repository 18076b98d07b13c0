package main

import (
	"encoding/json"
	"fmt"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/node"
	"github.com/urfave/cli/v2"
)

func replayCommand() *cli.Command {
	return &cli.Command{
		Name:  "replay",
		Usage: "rebuild the state right after a sequence from the nearest earlier snapshot plus the log (read-only)",
		Flags: []cli.Flag{dataFlag, jsonFlag,
			&cli.Uint64Flag{Name: "to-seq", Usage: "stop after sequence `N` (0: the end of the log)"},
			&cli.BoolFlag{Name: "events", Usage: "print each replayed command and its events"},
			&cli.IntFlag{Name: "depth", Value: 5, Usage: "price levels per side (0: all)"},
		},
		Action: func(c *cli.Context) error {
			w := c.App.Writer
			asJSON := c.Bool(jsonFlag.Name)
			opts := node.ReplayOptions{ToSeq: c.Uint64("to-seq")}
			type evJSON struct {
				Seq      uint64   `json:"seq"`
				Command  string   `json:"command"`
				ClientID uint64   `json:"client_id"`
				ReqID    uint64   `json:"request_id"`
				Events   []string `json:"events"`
			}
			var events []evJSON
			if c.Bool("events") {
				opts.OnCommand = func(seq uint64, cmd *engine.Command, cid, req uint64, evs []engine.Event) {
					line := string(engine.AppendText(nil, cmd))
					line = line[:len(line)-1]
					if asJSON {
						e := evJSON{Seq: seq, Command: line, ClientID: cid, ReqID: req, Events: []string{}}
						for _, ev := range evs {
							e.Events = append(e.Events, ev.String())
						}
						events = append(events, e)
						return
					}
					fmt.Fprintf(w, "%d %s (client %d request %d)\n", seq, line, cid, req)
					for _, ev := range evs {
						fmt.Fprintf(w, "    %s\n", ev)
					}
				}
			}
			e, res, err := node.Replay(c.String(dataFlag.Name), opts)
			if err != nil {
				return err
			}
			arena := e.Arena()
			defer engine.FreeArena(arena)
			defer e.Close()
			sum := node.Summarize(e, c.Int("depth"))
			if asJSON {
				out := struct {
					node.StateSummary
					node.ReplayResult
					Events []evJSON `json:"events,omitempty"`
				}{sum, res, events}
				b, err := json.Marshal(out)
				if err != nil {
					return err
				}
				var m map[string]any
				_ = json.Unmarshal(b, &m)
				return writeJSON(w, m)
			}
			from := "genesis"
			if res.FromSnapshot != "" {
				from = fmt.Sprintf("snapshot %s (seq %d)", res.FromSnapshot, res.SnapshotSeq)
			}
			fmt.Fprintf(w, "from %s, replayed %d commands\n", from, res.Replayed)
			return printSummary(w, sum, false)
		},
	}
}
