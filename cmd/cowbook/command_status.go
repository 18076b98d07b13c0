package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/node"
	"github.com/urfave/cli/v2"
)

// statusJSON is the --json output of `cowbook status`.
type statusJSON struct {
	State              string          `json:"state"`
	Seq                uint64          `json:"seq"`
	DurableSeq         uint64          `json:"durable_seq"`
	SnapshotSeq        uint64          `json:"snapshot_seq"`
	SnapshotAgeMs      float64         `json:"snapshot_age_ms,omitempty"`
	SnapshotPauseNs    uint64          `json:"snapshot_pause_ns"`
	RecoveryMs         float64         `json:"recovery_ms"`
	RecoverySnapLoadMs float64         `json:"recovery_snapshot_load_ms"`
	RecoveryReplayMs   float64         `json:"recovery_replay_ms"`
	RecoveryValidateMs float64         `json:"recovery_validate_ms"`
	Latency            *node.Latencies `json:"latency,omitempty"`
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "ask a node for its sequence, durable sequence, last snapshot and recovery breakdown",
		Flags: []cli.Flag{addrFlag, clientIDFlag, jsonFlag,
			&cli.StringFlag{Name: "metrics", Usage: "also read latency percentiles from the node's metrics `ADDR`ess"},
			&cli.DurationFlag{Name: "timeout", Value: 5 * time.Second, Usage: "give up after this long"},
		},
		Action: func(c *cli.Context) error {
			ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
			defer cancel()
			cl, err := client.Dial(ctx, c.String(addrFlag.Name), client.Options{ClientID: defaultClientID(c)})
			if err != nil {
				return err
			}
			defer cl.Close()
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			out := toStatusJSON(st, time.Now())
			if addr := c.String("metrics"); addr != "" {
				f, err := fetchFigures(ctx, addr)
				if err != nil {
					return err
				}
				out.Latency = &f.Latency
			}
			w := c.App.Writer
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, out)
			}
			fmt.Fprintf(w, "state        %s\nsequence     %d\ndurable      %d\n", out.State, out.Seq, out.DurableSeq)
			switch {
			case out.SnapshotSeq != 0 && out.SnapshotAgeMs == 0:
				fmt.Fprintf(w, "snapshot     seq %d (recovered from; none taken since start)\n", out.SnapshotSeq)
			case out.SnapshotSeq != 0:
				fmt.Fprintf(w, "snapshot     seq %d, %.1f s ago, pause %v\n", out.SnapshotSeq, out.SnapshotAgeMs/1000, time.Duration(out.SnapshotPauseNs))
			default:
				fmt.Fprintf(w, "snapshot     none\n")
			}
			fmt.Fprintf(w, "recovery     %.2f ms (snapshot load %.2f ms, replay %.2f ms, validate %.2f ms)\n",
				out.RecoveryMs, out.RecoverySnapLoadMs, out.RecoveryReplayMs, out.RecoveryValidateMs)
			if l := out.Latency; l != nil {
				for _, p := range []struct {
					name string
					p    node.Percentiles
				}{{"apply", l.Apply}, {"commit", l.Commit}, {"ack", l.Ack}} {
					fmt.Fprintf(w, "%-12s p50 %v  p99 %v  p99.9 %v  (%d samples)\n", p.name, time.Duration(p.p.P50), time.Duration(p.p.P99), time.Duration(p.p.P999), p.p.Count)
				}
			}
			return nil
		},
	}
}

func toStatusJSON(st wire.Status, now time.Time) statusJSON {
	out := statusJSON{
		State: st.State.String(), Seq: st.Seq, DurableSeq: st.DurableSeq, SnapshotSeq: st.SnapshotSeq,
		SnapshotPauseNs:    st.ForkPauseNs,
		RecoveryMs:         float64(st.RecoveryNs) / 1e6,
		RecoverySnapLoadMs: float64(st.RecoverySnapLoadNs) / 1e6,
		RecoveryReplayMs:   float64(st.RecoveryReplayNs) / 1e6,
		RecoveryValidateMs: float64(st.RecoveryValidateNs) / 1e6,
	}
	if st.SnapshotUnixNano != 0 {
		out.SnapshotAgeMs = float64(now.UnixNano()-st.SnapshotUnixNano) / 1e6
	}
	return out
}

func fetchFigures(ctx context.Context, addr string) (node.Figures, error) {
	var f node.Figures
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/status.json", nil)
	if err != nil {
		return f, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return f, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return f, fmt.Errorf("metrics %s: %s", addr, resp.Status)
	}
	return f, json.NewDecoder(resp.Body).Decode(&f)
}
