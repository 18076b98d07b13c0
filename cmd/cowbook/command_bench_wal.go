package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cowbook/cowbook/perf"
	"github.com/cowbook/cowbook/walfile"
)

// benchWALCommand measures the write-ahead log against the raw device floors
// of the filesystem holding --data.
func benchWALCommand() *cli.Command {
	return &cli.Command{
		Name:  "wal",
		Usage: "log throughput (saturating producer) and commit latency (paced producer) against raw O_DIRECT floors",
		Flags: append([]cli.Flag{dataFlag, jsonFlag,
			&cli.IntFlag{Name: "records", Value: 8 << 20, Usage: "records appended by the saturating producer"},
			&cli.IntFlag{Name: "record-size", Value: 64, Usage: "payload bytes per record"},
			&cli.IntFlag{Name: "recycled-records", Usage: "records appended in the recycled steady state (retention truncating behind the writer), after its warm-up (0: as --records)"},
			&cli.IntFlag{Name: "rate", Value: 20_000, Usage: "paced producer rate, records per second"},
			&cli.DurationFlag{Name: "paced-duration", Value: 3 * time.Second, Usage: "how long the paced producer runs"},
			&cli.IntFlag{Name: "floor-samples", Value: 2000, Usage: "4 KiB pwrite+fdatasync samples for the latency floor"},
			&cli.Int64Flag{Name: "floor-bytes", Value: 256 << 20, Usage: "file size for the bandwidth floor"},
			&cli.Int64Flag{Name: "segment-size", Value: 64 << 20, Usage: "log segment size in bytes"},
			&cli.IntFlag{Name: "max-batch", Usage: "largest group commit in bytes (0: the log's default, 4 MiB less two blocks)"},
			&cli.IntFlag{Name: "prepared", Value: 1, Usage: "segments the file pipeline keeps ready"},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			place, err := placementOptions(c)
			if err != nil {
				return err
			}
			if place.Prefault {
				return fmt.Errorf("bench wal: --prefault does not apply: the log has no arena (its buffers are written before use)")
			}
			res, err := perf.WALBench(perf.WALBenchConfig{
				Placement:       place,
				Dir:             c.String(dataFlag.Name),
				FloorSamples:    c.Int("floor-samples"),
				FloorBytes:      c.Int64("floor-bytes"),
				RecordSize:      c.Int("record-size"),
				SaturateRecords: c.Int("records"),
				RecycledRecords: c.Int("recycled-records"),
				PacedRate:       c.Int("rate"),
				PacedDuration:   c.Duration("paced-duration"),
				Log: walfile.Options{
					SegmentSize:      c.Int64("segment-size"),
					MaxBatch:         c.Int("max-batch"),
					PreparedSegments: c.Int("prepared"),
				},
			})
			if err != nil {
				return err
			}
			w := c.App.Writer
			for _, r := range res.PlacementRefused {
				fmt.Fprintln(c.App.ErrWriter, "bench wal: placement refused, running without it:", r)
			}
			if c.Bool(jsonFlag.Name) {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "floor (%s): 4 KiB pwrite+fdatasync p50 %.1f µs  p99 %.1f µs;  1 MiB O_DIRECT %.2f GB/s (from 4 KiB pages %.2f GB/s)\n",
				res.Dir, res.FloorFdatasyncP50Us, res.FloorFdatasyncP99Us, res.FloorBandwidthBytesPerSec/1e9, res.FloorBandwidthSmallPagesBytesPerSec/1e9)
			fmt.Fprintf(w, "floor, %d-byte O_DIRECT writes each fdatasynced: %.2f GB/s;  with fdatasyncs in another thread: %.2f GB/s;  1 MiB again after the log runs: %.2f GB/s\n",
				res.FloorSyncedBatchBytes, res.FloorSyncedBandwidthBytesPerSec/1e9, res.FloorOverlappedBandwidthBytesPerSec/1e9, res.FloorBandwidthEndBytesPerSec/1e9)
			fmt.Fprintf(w, "saturating, %d-byte records: %.2fM records/s  %.2f GB/s on disk (%.2f of floor, %.2f of the synced floor; payload %.2f)  %.0f records per batch  %d segment switches\n",
				res.RecordSize, res.RecordsPerSec/1e6, res.BytesPerSec/1e9, res.BandwidthRatio, res.SyncedBandwidthRatio, res.PayloadBandwidthRatio, res.AvgBatchRecords, res.SegmentSwitches)
			fmt.Fprintf(w, "  busy: seal %.2f  write %.2f  fdatasync %.2f  producer CPU %.2f\n",
				res.SealBusyFraction, res.WriteBusyFraction, res.SyncBusyFraction, res.ProducerCPUFraction)
			fmt.Fprintf(w, "saturating burst into %d prepared segments (no zero-filling beside it): %.2fM records/s  %.2f GB/s on disk (%.2f of floor)  %.0f records per batch  %d segment switches;  busy: write %.2f  producer CPU %.2f\n",
				res.BurstPreparedSegments, res.BurstRecordsPerSec/1e6, res.BurstBytesPerSec/1e9, res.BurstBandwidthRatio, res.BurstAvgBatchRecords, res.BurstSegmentSwitches,
				res.BurstWriteBusyFraction, res.BurstProducerCPUFraction)
			fmt.Fprintf(w, "saturating, recycled segments (retention behind the writer): %.2fM records/s  %.2f GB/s on disk (%.2f of floor)  %.0f records per batch  %d of %d segment switches reused a file;  %.2f of the overlapped floor, %.2f of the end floor\n",
				res.RecycledRecordsPerSec/1e6, res.RecycledBytesPerSec/1e9, res.RecycledBandwidthRatio, res.RecycledAvgBatchRecords, res.RecycledSegmentsReused, res.RecycledSegmentSwitches,
				res.RecycledOverlappedRatio, res.RecycledEndRatio)
			fmt.Fprintf(w, "  busy: seal %.2f  write %.2f  fdatasync %.2f  producer CPU %.2f  process CPU %.2f cores  waiting for a CPU %.2f cores\n",
				res.RecycledSealBusyFraction, res.RecycledWriteBusyFraction, res.RecycledSyncBusyFraction, res.RecycledProducerCPUFraction, res.RecycledProcessCPUCores, res.RecycledRunqueueWaitCores)
			fmt.Fprintf(w, "paced, %d records/s (achieved %.0f): commit p50 %.1f µs (%.2f × floor)  p99 %.1f µs (%.2f × floor p99)  p99.9 %.1f µs  %.1f records per batch\n",
				res.PacedTargetRate, res.PacedRecordsPerSec, res.CommitP50Us, res.CommitP50Ratio, res.CommitP99Us, res.CommitP99Ratio, res.CommitP999Us, res.PacedAvgBatchRecords)
			fmt.Fprintf(w, "  ideal group commit on the floor's syncs: p50 %.1f µs  p99 %.1f µs (log p50 %.2f × ideal);  seen by a woken goroutine: p50 %.1f µs  p99 %.1f µs\n",
				res.FloorGroupCommitP50Us, res.FloorGroupCommitP99Us, res.CommitP50IdealRatio, res.ObservedP50Us, res.ObservedP99Us)
			fmt.Fprintf(w, "  device stages: pwrite %.1f µs, in flight %.2f of the time;  fdatasync %.1f µs, in flight %.2f of the time;  one record every %.1f µs\n",
				res.PacedWriteAvgUs, res.PacedWriteBusyFraction, res.PacedSyncAvgUs, res.PacedSyncBusyFraction, 1e6/float64(res.PacedTargetRate))
			return nil
		},
	}
}
