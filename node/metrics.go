package node

import (
	"fmt"
	"io"
)

// Figures is everything `cowbook status` and the metrics endpoint report.
type Figures struct {
	State            string    `json:"state"`
	Seq              uint64    `json:"seq"`
	DurableSeq       uint64    `json:"durable_seq"`
	SnapshotSeq      uint64    `json:"snapshot_seq"`
	SnapshotUnixNano int64     `json:"snapshot_unix_ns"`
	SnapshotPauseNs  uint64    `json:"snapshot_pause_ns"`
	SnapshotsTaken   uint64    `json:"snapshots_taken"`
	SnapshotsFailed  uint64    `json:"snapshots_failed"`
	Recovery         Recovery  `json:"recovery"`
	Latency          Latencies `json:"latency"`
}

// Figures returns the node's current figures.
func (n *Node) Figures() Figures {
	st := n.Status()
	return Figures{
		State: st.State.String(), Seq: st.Seq, DurableSeq: st.DurableSeq,
		SnapshotSeq: st.SnapshotSeq, SnapshotUnixNano: st.SnapshotUnixNano, SnapshotPauseNs: st.ForkPauseNs,
		SnapshotsTaken: n.snapsTaken.Load(), SnapshotsFailed: n.snapsFailed.Load(),
		Recovery: n.Recovery(), Latency: n.Latencies(),
	}
}

// WriteMetrics writes the figures in the Prometheus text exposition format.
func (n *Node) WriteMetrics(w io.Writer) error {
	f := n.Figures()
	gauge := func(name, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %v\n", name, help, name, name, v)
	}
	ready := 0
	if f.State == "ready" {
		ready = 1
	}
	gauge("cowbook_ready", "1 when the node accepts orders", ready)
	gauge("cowbook_seq", "last sequence assigned", f.Seq)
	gauge("cowbook_durable_seq", "last sequence durable in the log", f.DurableSeq)
	gauge("cowbook_snapshot_seq", "sequence of the newest published snapshot", f.SnapshotSeq)
	gauge("cowbook_snapshot_unix_seconds", "when the newest snapshot was published", float64(f.SnapshotUnixNano)/1e9)
	gauge("cowbook_snapshot_pause_seconds", "engine pause of the last snapshot capture", float64(f.SnapshotPauseNs)/1e9)
	gauge("cowbook_snapshots_taken_total", "snapshots published since start", f.SnapshotsTaken)
	gauge("cowbook_snapshots_failed_total", "snapshots that failed since start", f.SnapshotsFailed)
	gauge("cowbook_recovery_seconds", "last recovery, total (RTO)", float64(f.Recovery.TotalNs)/1e9)
	gauge("cowbook_recovery_snapshot_load_seconds", "last recovery, snapshot load", float64(f.Recovery.SnapLoadNs)/1e9)
	gauge("cowbook_recovery_replay_seconds", "last recovery, log replay", float64(f.Recovery.ReplayNs)/1e9)
	gauge("cowbook_recovery_validate_seconds", "last recovery, validation", float64(f.Recovery.ValidateNs)/1e9)
	gauge("cowbook_recovery_replayed_commands", "commands replayed by the last recovery", f.Recovery.Replayed)
	for _, h := range []struct {
		name, help string
		p          Percentiles
	}{
		{"cowbook_apply_latency_seconds", "engine apply time (sampled)", f.Latency.Apply},
		{"cowbook_commit_latency_seconds", "log append to durable (sampled)", f.Latency.Commit},
		{"cowbook_ack_latency_seconds", "request taken to outcome released (sampled)", f.Latency.Ack},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s summary\n", h.name, h.help, h.name)
		fmt.Fprintf(w, "%s{quantile=\"0.5\"} %g\n%s{quantile=\"0.99\"} %g\n%s{quantile=\"0.999\"} %g\n%s_count %d\n",
			h.name, float64(h.p.P50)/1e9, h.name, float64(h.p.P99)/1e9, h.name, float64(h.p.P999)/1e9, h.name, h.p.Count)
	}
	_, err := fmt.Fprint(w)
	return err
}
