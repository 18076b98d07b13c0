package perf

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/internal/placement"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// WALBenchConfig configures WALBench. Zero fields take the defaults noted.
type WALBenchConfig struct {
	// Dir is a directory on the filesystem to measure. The benchmark works
	// in a fresh subdirectory of it and removes it afterwards.
	Dir string
	// FloorSamples is the number of 4 KiB pwrite+fdatasync timed for the
	// latency floor. Zero: 2000.
	FloorSamples int
	// FloorBytes is the size of the file the bandwidth floor writes with
	// 1 MiB O_DIRECT writes. Zero: 256 MiB.
	FloorBytes int64
	// RecordSize is the payload size of every record. Zero: 64.
	RecordSize int
	// SaturateRecords is how many records the saturating producer appends.
	// Zero: 8M.
	SaturateRecords int
	// RecycledRecords is how many records the saturating producer appends
	// in the recycled steady state, after its warm-up. Zero:
	// SaturateRecords.
	RecycledRecords int
	// PacedRate is the paced producer's rate in records per second. Zero:
	// 20,000.
	PacedRate int
	// PacedDuration is how long the paced producer runs. Zero: 3 s.
	PacedDuration time.Duration
	// Log is passed to walfile.Open (FS is ignored: the benchmark measures
	// the real filesystem). Zero fields take walfile's defaults.
	Log walfile.Options
	// Placement pins the producer (the appending thread, as the engine
	// thread would be) with PinEngine, the log's I/O workers with
	// PinWriter, and locks memory with Mlock. The zero value does nothing.
	// What the kernel refuses is reported in the result, and the run goes
	// on unplaced.
	Placement placement.Options
}

// WALBenchResult is the outcome of WALBench; its JSON field names are the
// contract of `cowbook bench wal --json`.
type WALBenchResult struct {
	Dir        string `json:"dir"`
	RecordSize int    `json:"record_size_bytes"`
	// Floor: raw O_DIRECT 4 KiB pwrite+fdatasync into a pre-written file,
	// and raw O_DIRECT sequential bandwidth with 1 MiB writes (one
	// fdatasync at the end).
	FloorFdatasyncP50Us       float64 `json:"floor_fdatasync_p50_us"`
	FloorFdatasyncP99Us       float64 `json:"floor_fdatasync_p99_us"`
	FloorFdatasyncP999Us      float64 `json:"floor_fdatasync_p999_us"`
	FloorBandwidthBytesPerSec float64 `json:"floor_bandwidth_bytes_per_sec"`
	// The 1 MiB floor written from a buffer in 4 KiB pages, as this
	// benchmark measured the floor before the log and the floors moved to
	// huge-page buffers: the kernel pins each page of an O_DIRECT write, so
	// small pages cost CPU and, here, bandwidth. SmallPagesBandwidthRatio
	// is bytes_per_sec over it, comparable with bandwidth_ratio of those
	// versions.
	FloorBandwidthSmallPagesBytesPerSec float64 `json:"floor_bandwidth_small_pages_bytes_per_sec"`
	SmallPagesBandwidthRatio            float64 `json:"small_pages_bandwidth_ratio"`
	RecycledSmallPagesBandwidthRatio    float64 `json:"recycled_small_pages_bandwidth_ratio"`
	// The same with writes of MaxBatch bytes, each followed by fdatasync:
	// what a group commit of that size can make durable at most.
	FloorSyncedBatchBytes           int     `json:"floor_synced_batch_bytes"`
	FloorSyncedBandwidthBytesPerSec float64 `json:"floor_synced_bandwidth_bytes_per_sec"`
	// The same MaxBatch-sized writes back to back while a second thread
	// runs fdatasync after fdatasync, as the log's writing and syncing roles
	// do: the most the log's pipeline can make durable on this disk.
	FloorOverlappedBandwidthBytesPerSec float64 `json:"floor_overlapped_bandwidth_bytes_per_sec"`
	// The 1 MiB floor measured again after every log run: sustained
	// writing slows this disk, so the ratios are also given against it.
	FloorBandwidthEndBytesPerSec float64 `json:"floor_bandwidth_end_bytes_per_sec"`
	// An ideal group commit on the floor's sync timeline, with records
	// arriving at the paced rate (see idealGroupCommit).
	FloorGroupCommitP50Us float64 `json:"floor_group_commit_p50_us"`
	FloorGroupCommitP99Us float64 `json:"floor_group_commit_p99_us"`
	SaturateRecords       int64   `json:"saturate_records"`
	RecordsPerSec         float64 `json:"records_per_sec"`
	// BytesPerSec counts record bytes as laid out on disk (header, payload,
	// padding) made durable per second; PayloadBytesPerSec only payloads.
	BytesPerSec           float64 `json:"bytes_per_sec"`
	PayloadBytesPerSec    float64 `json:"payload_bytes_per_sec"`
	BandwidthRatio        float64 `json:"bandwidth_ratio"`
	PayloadBandwidthRatio float64 `json:"payload_bandwidth_ratio"`
	// SyncedBandwidthRatio is bytes_per_sec / floor_synced_bandwidth_bytes_per_sec.
	SyncedBandwidthRatio float64 `json:"synced_bandwidth_ratio"`
	// AvgBatchRecords is records per write; AvgSyncRecords records per
	// fdatasync (one covers every batch written before it began).
	AvgBatchRecords float64 `json:"avg_batch_records"`
	AvgSyncRecords  float64 `json:"avg_sync_records"`
	AvgBatchBytes   float64 `json:"avg_batch_bytes"`
	SegmentSwitches int     `json:"segment_switches"`
	// Where the saturating run's time went, as fractions of its elapsed
	// time: each I/O role (sealing = checksums, writing = pwrite and segment
	// switches, syncing = fdatasync) is held by one worker at a time, so a
	// fraction near 1 is the stage that bounds the log; producer_cpu is the
	// appending thread's CPU time.
	SealBusyFraction    float64 `json:"seal_busy_fraction"`
	WriteBusyFraction   float64 `json:"write_busy_fraction"`
	SyncBusyFraction    float64 `json:"sync_busy_fraction"`
	ProducerCPUFraction float64 `json:"producer_cpu_fraction"`
	// Burst: the same saturating producer into a fresh log whose file
	// pipeline has prepared, beforehand, one more segment than the records
	// fill (burst_prepared_segments, at most 64): what the log does with the
	// disk to itself. A fresh log's own run above shares the disk with the
	// pipeline zero-filling its next segments, every byte written twice.
	BurstPreparedSegments    int     `json:"burst_prepared_segments"`
	BurstSegmentSwitches     int     `json:"burst_segment_switches"`
	BurstRecordsPerSec       float64 `json:"burst_records_per_sec"`
	BurstBytesPerSec         float64 `json:"burst_bytes_per_sec"`
	BurstBandwidthRatio      float64 `json:"burst_bandwidth_ratio"`
	BurstAvgBatchRecords     float64 `json:"burst_avg_batch_records"`
	BurstWriteBusyFraction   float64 `json:"burst_write_busy_fraction"`
	BurstProducerCPUFraction float64 `json:"burst_producer_cpu_fraction"`
	// Recycled steady state: the saturating producer again, with retention
	// truncating two segments behind the writer (as the node does after each
	// snapshot; its first truncation fills the recycle pool), measured once
	// segments come from the recycle pool. Fields as above;
	// recycled_segments_reused of recycled_segment_switches came from the
	// pool, the rest were zero-filled.
	RecycledRecords        int64   `json:"recycled_records"`
	RecycledRecordsPerSec  float64 `json:"recycled_records_per_sec"`
	RecycledBytesPerSec    float64 `json:"recycled_bytes_per_sec"`
	RecycledBandwidthRatio float64 `json:"recycled_bandwidth_ratio"`
	// RecycledOverlappedRatio is recycled_bytes_per_sec /
	// floor_overlapped_bandwidth_bytes_per_sec; RecycledEndRatio divides by
	// floor_bandwidth_end_bytes_per_sec.
	RecycledOverlappedRatio     float64 `json:"recycled_overlapped_ratio"`
	RecycledEndRatio            float64 `json:"recycled_end_ratio"`
	RecycledAvgBatchRecords     float64 `json:"recycled_avg_batch_records"`
	RecycledAvgSyncRecords      float64 `json:"recycled_avg_sync_records"`
	RecycledSegmentSwitches     int     `json:"recycled_segment_switches"`
	RecycledSegmentsReused      int     `json:"recycled_segments_reused"`
	RecycledSealBusyFraction    float64 `json:"recycled_seal_busy_fraction"`
	RecycledWriteBusyFraction   float64 `json:"recycled_write_busy_fraction"`
	RecycledSyncBusyFraction    float64 `json:"recycled_sync_busy_fraction"`
	RecycledProducerCPUFraction float64 `json:"recycled_producer_cpu_fraction"`
	// RecycledProcessCPUCores is the whole process's CPU time (producer,
	// I/O workers, file pipeline, retention) over the elapsed time: on 2
	// vCPUs shared with other work, how much CPU the log got.
	RecycledProcessCPUCores float64 `json:"recycled_process_cpu_cores"`
	// RecycledRunqueueWaitCores is the time the process's threads spent
	// runnable but waiting for a CPU, over the elapsed time (Linux
	// schedstat): CPU the log wanted and did not get.
	RecycledRunqueueWaitCores float64 `json:"recycled_runqueue_wait_cores"`
	PacedTargetRate           int     `json:"paced_target_records_per_sec"`
	PacedRecordsPerSec        float64 `json:"paced_records_per_sec"`
	PacedAvgBatchRecords      float64 `json:"paced_avg_batch_records"`
	PacedAvgSyncRecords       float64 `json:"paced_avg_sync_records"`
	// The paced run's two device stages: the share of its time a pwrite
	// (an fdatasync) was in flight, and their mean durations. Writes run
	// one at a time, and so do fdatasyncs; once a stage is busy most of
	// the time, a record arriving at a random moment waits on average for
	// half of the operation in flight before its own, whatever the log
	// does (BENCHMARKS.md, ## walfile).
	PacedWriteBusyFraction float64 `json:"paced_write_busy_fraction"`
	PacedSyncBusyFraction  float64 `json:"paced_sync_busy_fraction"`
	PacedWriteAvgUs        float64 `json:"paced_write_avg_us"`
	PacedSyncAvgUs         float64 `json:"paced_sync_avg_us"`
	// Commit: from Append to the writer publishing the durable sequence
	// that covers the record (Options.OnDurable), paced producer.
	CommitP50Us  float64 `json:"commit_p50_us"`
	CommitP99Us  float64 `json:"commit_p99_us"`
	CommitP999Us float64 `json:"commit_p999_us"`
	CommitMaxUs  float64 `json:"commit_max_us"`
	// Observed: the same, measured by a separate goroutine that wakes on
	// Log.Durable(): adds that goroutine's wake-up.
	ObservedP50Us  float64 `json:"commit_observed_p50_us"`
	ObservedP99Us  float64 `json:"commit_observed_p99_us"`
	CommitP50Ratio float64 `json:"commit_p50_ratio"`
	CommitP99Ratio float64 `json:"commit_p99_ratio"`
	// Lone: a paced producer at loneRate records per second, so that each
	// record is a group commit of one block: the log's cost per commit.
	LoneCommitP50Us    float64 `json:"lone_commit_p50_us"`
	LoneCommitP99Us    float64 `json:"lone_commit_p99_us"`
	LoneCommitP50Ratio float64 `json:"lone_commit_p50_ratio"`
	LoneAvgSyncRecords float64 `json:"lone_avg_sync_records"`
	// FloorLone: the floor's 4 KiB pwrite+fdatasync issued at the lone
	// run's pace (1 ms apart) instead of back to back: an idle virtual disk
	// answers more slowly. LoneCommitP50FloorRatio compares like with like.
	FloorLoneFdatasyncP50Us float64 `json:"floor_lone_fdatasync_p50_us"`
	FloorLoneFdatasyncP99Us float64 `json:"floor_lone_fdatasync_p99_us"`
	LoneCommitP50FloorRatio float64 `json:"lone_commit_p50_floor_ratio"`
	// CommitP50IdealRatio is commit_p50_us / floor_group_commit_p50_us.
	CommitP50IdealRatio float64 `json:"commit_p50_ideal_ratio"`
	// The same floors under the names the bench report pairs with the
	// figures (docs/report.md: floor_X beside X).
	FloorBytesPerSec    float64      `json:"floor_bytes_per_sec"`
	FloorCommitP50Us    float64      `json:"floor_commit_p50_us"`
	FloorCommitP99Us    float64      `json:"floor_commit_p99_us"`
	CommitLatencyCurve  []CurvePoint `json:"commit_latency_curve"`
	FloorFdatasyncCurve []CurvePoint `json:"floor_fdatasync_latency_curve"`
	GoMaxProcs          int          `json:"gomaxprocs"`
	// PlacementRefused lists what Placement asked for and the kernel
	// refused; the run went on without it.
	PlacementRefused []string `json:"placement_refused,omitempty"`
}

func (c *WALBenchConfig) defaults() {
	if c.FloorSamples == 0 {
		c.FloorSamples = 2000
	}
	if c.FloorBytes == 0 {
		c.FloorBytes = 256 << 20
	}
	if c.RecordSize == 0 {
		c.RecordSize = 64
	}
	if c.SaturateRecords == 0 {
		c.SaturateRecords = 8 << 20
	}
	if c.RecycledRecords == 0 {
		c.RecycledRecords = c.SaturateRecords
	}
	if c.PacedRate == 0 {
		c.PacedRate = 20_000
	}
	if c.PacedDuration == 0 {
		c.PacedDuration = 3 * time.Second
	}
}

// loneRate is the rate of the lone-record run: records 1 ms apart, far
// more than a 4 KiB write+fdatasync takes here.
const loneRate = 1000

func us(ns int64) float64 { return float64(ns) / 1e3 }

// WALBench measures the write-ahead log against the floors of the same
// filesystem, in one run: (a) raw 4 KiB O_DIRECT pwrite+fdatasync latency
// and raw 1 MiB O_DIRECT bandwidth, (b) the log with a saturating producer,
// (c) the log with a paced producer, timing each record from Append to the
// moment the durable watermark covering it is observed.
func WALBench(cfg WALBenchConfig) (*WALBenchResult, error) {
	cfg.defaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(cfg.Dir, "walbench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	res := &WALBenchResult{Dir: cfg.Dir, RecordSize: cfg.RecordSize, PacedTargetRate: cfg.PacedRate, GoMaxProcs: runtime.GOMAXPROCS(0)}
	// The floors, the saturating and the paced producer all run on this
	// goroutine: pinned, they run where an engine thread would.
	refused, release := placeThread(cfg.Placement)
	defer release()
	res.PlacementRefused = refused
	if place := cfg.Placement; place.PinWriter {
		cfg.Log.PinWriter = place.PinWriterThread
	}
	if err := floorLatency(filepath.Join(work, "floor-latency"), cfg.FloorSamples, cfg.PacedRate, res); err != nil {
		return nil, fmt.Errorf("floor latency: %w", err)
	}
	lo, err := cfg.Log.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	maxBatch := lo.MaxBatch
	if err := floorBandwidth(filepath.Join(work, "floor-bandwidth"), cfg.FloorBytes, maxBatch, true, res); err != nil {
		return nil, fmt.Errorf("floor bandwidth: %w", err)
	}
	opts := cfg.Log
	opts.FS = vfs.OS
	sr, err := saturate(filepath.Join(work, "wal-saturate"), opts, cfg)
	if err != nil {
		return nil, fmt.Errorf("saturating run: %w", err)
	}
	recBytes := float64(walfile.RecordSize(cfg.RecordSize))
	res.SaturateRecords = sr.records
	res.RecordsPerSec = sr.recordsPerSec
	res.BytesPerSec = sr.recordsPerSec * recBytes
	res.PayloadBytesPerSec = sr.recordsPerSec * float64(cfg.RecordSize)
	res.AvgBatchRecords, res.AvgSyncRecords, res.AvgBatchBytes = sr.avgBatch, sr.avgSync, sr.batchBytes
	res.SegmentSwitches = sr.switches
	res.SealBusyFraction, res.WriteBusyFraction, res.SyncBusyFraction = sr.seal, sr.write, sr.sync
	res.ProducerCPUFraction = sr.producer
	// The same records as a burst into segments prepared beforehand, as
	// many as it fills: no zeros compete with the records for the disk.
	bopts := opts
	bopts.PreparedSegments = burstSegments(cfg, lo)
	br, err := saturate(filepath.Join(work, "wal-burst"), bopts, cfg)
	if err != nil {
		return nil, fmt.Errorf("burst run: %w", err)
	}
	res.BurstPreparedSegments = bopts.PreparedSegments
	res.BurstSegmentSwitches = br.switches
	res.BurstRecordsPerSec = br.recordsPerSec
	res.BurstBytesPerSec = br.recordsPerSec * recBytes
	res.BurstAvgBatchRecords = br.avgBatch
	res.BurstWriteBusyFraction, res.BurstProducerCPUFraction = br.write, br.producer
	if err := saturateRecycled(filepath.Join(work, "wal-recycled"), opts, cfg, res); err != nil {
		return nil, fmt.Errorf("recycled run: %w", err)
	}
	var end WALBenchResult
	if err := floorBandwidth(filepath.Join(work, "floor-bandwidth-end"), cfg.FloorBytes, maxBatch, false, &end); err != nil {
		return nil, fmt.Errorf("floor bandwidth at the end: %w", err)
	}
	res.FloorBandwidthEndBytesPerSec = end.FloorBandwidthBytesPerSec
	pr, err := paced(filepath.Join(work, "wal-paced"), opts, cfg.PacedRate, cfg.PacedDuration, cfg.RecordSize)
	if err != nil {
		return nil, fmt.Errorf("paced run: %w", err)
	}
	res.PacedRecordsPerSec = pr.recordsPerSec
	res.PacedAvgBatchRecords, res.PacedAvgSyncRecords = pr.avgBatch, pr.avgSync
	res.PacedWriteBusyFraction, res.PacedSyncBusyFraction = pr.writeBusy, pr.syncBusy
	res.PacedWriteAvgUs, res.PacedSyncAvgUs = pr.writeAvgUs, pr.syncAvgUs
	res.CommitP50Us = us(pr.commit.Quantile(0.5))
	res.CommitP99Us = us(pr.commit.Quantile(0.99))
	res.CommitP999Us = us(pr.commit.Quantile(0.999))
	res.CommitMaxUs = us(pr.commit.Max())
	res.CommitLatencyCurve = pr.commit.Curve()
	res.ObservedP50Us = us(pr.observed.Quantile(0.5))
	res.ObservedP99Us = us(pr.observed.Quantile(0.99))
	// Records far enough apart that each is a group commit of its own
	// block: the log's cost per commit beside the floor's write+fdatasync.
	lone, err := paced(filepath.Join(work, "wal-lone"), opts, loneRate, max(cfg.PacedDuration/3, 200*time.Millisecond), cfg.RecordSize)
	if err != nil {
		return nil, fmt.Errorf("lone-record run: %w", err)
	}
	res.LoneCommitP50Us = us(lone.commit.Quantile(0.5))
	res.LoneCommitP99Us = us(lone.commit.Quantile(0.99))
	res.LoneAvgSyncRecords = lone.avgSync
	res.BandwidthRatio = res.BytesPerSec / res.FloorBandwidthBytesPerSec
	res.BurstBandwidthRatio = res.BurstBytesPerSec / res.FloorBandwidthBytesPerSec
	res.RecycledBandwidthRatio = res.RecycledBytesPerSec / res.FloorBandwidthBytesPerSec
	if res.FloorBandwidthSmallPagesBytesPerSec > 0 {
		res.SmallPagesBandwidthRatio = res.BytesPerSec / res.FloorBandwidthSmallPagesBytesPerSec
		res.RecycledSmallPagesBandwidthRatio = res.RecycledBytesPerSec / res.FloorBandwidthSmallPagesBytesPerSec
	}
	res.RecycledOverlappedRatio = res.RecycledBytesPerSec / res.FloorOverlappedBandwidthBytesPerSec
	if res.FloorBandwidthEndBytesPerSec > 0 {
		res.RecycledEndRatio = res.RecycledBytesPerSec / res.FloorBandwidthEndBytesPerSec
	}
	res.PayloadBandwidthRatio = res.PayloadBytesPerSec / res.FloorBandwidthBytesPerSec
	res.SyncedBandwidthRatio = res.BytesPerSec / res.FloorSyncedBandwidthBytesPerSec
	res.CommitP50Ratio = res.CommitP50Us / res.FloorFdatasyncP50Us
	res.LoneCommitP50Ratio = res.LoneCommitP50Us / res.FloorFdatasyncP50Us
	if res.FloorLoneFdatasyncP50Us > 0 {
		res.LoneCommitP50FloorRatio = res.LoneCommitP50Us / res.FloorLoneFdatasyncP50Us
	}
	res.CommitP99Ratio = res.CommitP99Us / res.FloorFdatasyncP99Us
	if res.FloorGroupCommitP50Us > 0 {
		res.CommitP50IdealRatio = res.CommitP50Us / res.FloorGroupCommitP50Us
	}
	res.FloorBytesPerSec = res.FloorBandwidthBytesPerSec
	res.FloorCommitP50Us, res.FloorCommitP99Us = res.FloorFdatasyncP50Us, res.FloorFdatasyncP99Us
	return res, nil
}

// prewritten creates path with size bytes of zeros, fsynced, opened for
// O_DIRECT writing.
func prewritten(path string, size int64) (vfs.File, error) {
	f, err := vfs.OS.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|vfs.ODirect, 0o644)
	if err != nil {
		return nil, err
	}
	zero := vfs.AlignedBuffer(1 << 20)
	for off := int64(0); off < size; off += int64(len(zero)) {
		if _, err := f.WriteAt(zero[:min(int64(len(zero)), size-off)], off); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func floorLatency(path string, samples, rate int, res *WALBenchResult) error {
	const size = 16 << 20
	f, err := prewritten(path, size)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := vfs.AlignedBuffer(4096)
	h := NewHistogram()
	ends := make([]time.Duration, 0, samples) // end of each timed sync, since the first began
	var t0 time.Time
	for i := range samples + 100 {
		buf[0] = byte(i)
		off := int64(i*4096) % size
		t := time.Now()
		if i == 100 {
			t0 = t
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return err
		}
		if err := f.Datasync(); err != nil {
			return err
		}
		if i >= 100 { // the first ones warm the path up
			e := time.Now()
			h.Record(e.Sub(t).Nanoseconds())
			ends = append(ends, e.Sub(t0))
		}
	}
	idealGroupCommit(ends, rate, res)
	// The same, one sync every 1/loneRate s, as the lone-record run issues
	// them; nanosleep with a 1 µs timer slack, as the paced producer does.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	hl := NewHistogram()
	gap := unix.NsecToTimespec(int64(time.Second / loneRate))
	for i := range max(samples/4, 100) {
		ts := gap
		_ = unix.Nanosleep(&ts, nil)
		buf[0] = byte(i)
		t := time.Now()
		if _, err := f.WriteAt(buf, int64(i*4096)%size); err != nil {
			return err
		}
		if err := f.Datasync(); err != nil {
			return err
		}
		hl.Record(time.Since(t).Nanoseconds())
	}
	res.FloorLoneFdatasyncP50Us = us(hl.Quantile(0.5))
	res.FloorLoneFdatasyncP99Us = us(hl.Quantile(0.99))
	res.FloorFdatasyncP50Us = us(h.Quantile(0.5))
	res.FloorFdatasyncP99Us = us(h.Quantile(0.99))
	res.FloorFdatasyncP999Us = us(h.Quantile(0.999))
	res.FloorFdatasyncCurve = h.Curve()
	return nil
}

// idealGroupCommit replays records arriving at rate per second against the
// timeline of back-to-back syncs the latency floor just made: a record is
// durable at the end of the first sync that starts after it arrives. That is
// a group commit with no overhead at all, on the disk as it behaved; unlike
// the per-sync p50 it weighs the disk's stalls by the time they last, as
// arrivals at a steady rate do.
func idealGroupCommit(ends []time.Duration, rate int, res *WALBenchResult) {
	if len(ends) < 2 || rate <= 0 {
		return
	}
	h := NewHistogram()
	interval := time.Second / time.Duration(rate)
	start := func(k int) time.Duration { // sync k starts when k-1 ends
		if k == 0 {
			return 0
		}
		return ends[k-1]
	}
	k := 0
	for a := time.Duration(0); ; a += interval {
		for k < len(ends) && start(k) < a {
			k++
		}
		if k == len(ends) {
			break
		}
		h.Record((ends[k] - a).Nanoseconds())
	}
	res.FloorGroupCommitP50Us = us(h.Quantile(0.5))
	res.FloorGroupCommitP99Us = us(h.Quantile(0.99))
}

// floorBuffer returns the buffer the bandwidth floor writes from: in huge
// pages, as the log's write buffers are (walfile puts its buffers of 1 MiB
// and more there), so that the floor is the most this disk and kernel take
// from any buffer; with small pages, the floor of earlier versions of this
// benchmark (floor_bandwidth_small_pages_bytes_per_sec).
func floorBuffer(n int, small bool) ([]byte, func(), error) {
	if small {
		return vfs.AlignedBuffer(n), func() {}, nil
	}
	return vfs.HugeBuffer(n)
}

// floorBandwidth measures the bandwidth floors into res; with smallPages
// also the 1 MiB floor from a buffer in small pages.
func floorBandwidth(path string, size int64, batch int, smallPages bool, res *WALBenchResult) error {
	f, err := prewritten(path, size)
	if err != nil {
		return err
	}
	defer f.Close()
	// pass writes the file with O_DIRECT writes of n bytes, with an
	// fdatasync after each when synced (else one at the end), and returns
	// the bytes per second.
	pass := func(n int, synced, small bool) (float64, error) {
		buf, release, err := floorBuffer(n, small)
		if err != nil {
			return 0, err
		}
		defer release()
		t := time.Now()
		written := int64(0)
		for off := int64(0); off+int64(n) <= size; off += int64(n) {
			if _, err := f.WriteAt(buf, off); err != nil {
				return 0, err
			}
			if synced {
				if err := f.Datasync(); err != nil {
					return 0, err
				}
			}
			written += int64(n)
		}
		if err := f.Datasync(); err != nil {
			return 0, err
		}
		return float64(written) / time.Since(t).Seconds(), nil
	}
	// overlapped writes the file with O_DIRECT writes of n bytes while
	// another goroutine calls fdatasync back to back.
	overlapped := func(n int) (float64, error) {
		buf, release, err := floorBuffer(n, false)
		if err != nil {
			return 0, err
		}
		defer release()
		var stop atomic.Bool
		serr := make(chan error, 1)
		go func() {
			for !stop.Load() {
				if err := f.Datasync(); err != nil {
					serr <- err
					return
				}
			}
			serr <- nil
		}()
		t := time.Now()
		written := int64(0)
		var werr error
		for off := int64(0); off+int64(n) <= size; off += int64(n) {
			if _, werr = f.WriteAt(buf, off); werr != nil {
				break
			}
			written += int64(n)
		}
		stop.Store(true)
		if err := <-serr; err != nil {
			return 0, err
		}
		if werr != nil {
			return 0, werr
		}
		if err := f.Datasync(); err != nil {
			return 0, err
		}
		return float64(written) / time.Since(t).Seconds(), nil
	}
	median := func(n int, synced, small bool) (float64, error) {
		var rates []float64
		for range 3 {
			r, err := pass(n, synced, small)
			if err != nil {
				return 0, err
			}
			rates = append(rates, r)
		}
		sort.Float64s(rates)
		return rates[1], nil
	}
	if res.FloorBandwidthBytesPerSec, err = median(1<<20, false, false); err != nil {
		return err
	}
	if smallPages {
		if res.FloorBandwidthSmallPagesBytesPerSec, err = median(1<<20, false, true); err != nil {
			return err
		}
	}
	// Blocks of the log's largest batch, each made durable before the next
	// is written: the most a group commit of that size can do.
	batch = (batch + vfs.DirectAlign - 1) / vfs.DirectAlign * vfs.DirectAlign
	res.FloorSyncedBatchBytes = batch
	if res.FloorSyncedBandwidthBytesPerSec, err = median(batch, true, false); err != nil {
		return err
	}
	var rates []float64
	for range 3 {
		r, err := overlapped(batch)
		if err != nil {
			return err
		}
		rates = append(rates, r)
	}
	sort.Float64s(rates)
	res.FloorOverlappedBandwidthBytesPerSec = rates[1]
	return nil
}

// satRun is what one saturating run measured.
type satRun struct {
	records                                      int64
	recordsPerSec, avgBatch, avgSync, batchBytes float64
	seal, write, sync, producer                  float64 // fractions of the elapsed time
	switches                                     int
}

// saturate opens a fresh log in dir, waits until its file pipeline has
// opts.PreparedSegments segments ready, and appends cfg.SaturateRecords
// records as fast as Append takes them.
func saturate(dir string, opts walfile.Options, cfg WALBenchConfig) (*satRun, error) {
	l, err := walfile.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	if err := waitSegmentsReady(l, max(opts.PreparedSegments, 1)); err != nil {
		l.Close()
		return nil, err
	}
	payload := make([]byte, cfg.RecordSize)
	n := cfg.SaturateRecords
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0 := threadCPU()
	t := time.Now()
	for i := range n {
		payload[0] = byte(i)
		if _, err := l.Append(1, payload); err != nil {
			l.Close()
			return nil, err
		}
	}
	if err := l.Sync(); err != nil {
		l.Close()
		return nil, err
	}
	elapsed := time.Since(t)
	r := &satRun{records: int64(n), producer: float64(threadCPU()-cpu0) / float64(elapsed)}
	st := l.Stats()
	r.seal = float64(st.SealTime) / float64(elapsed)
	r.write = float64(st.WriteTime) / float64(elapsed)
	r.sync = float64(st.SyncTime) / float64(elapsed)
	if err := l.Close(); err != nil {
		return nil, err
	}
	segs, err := walfile.List(dir, walfile.Options{})
	if err != nil {
		return nil, err
	}
	r.recordsPerSec = float64(n) / elapsed.Seconds()
	r.avgBatch = float64(n) / float64(st.Batches)
	r.avgSync = float64(n) / float64(st.Syncs)
	r.batchBytes = float64(st.WrittenBytes) / float64(st.Batches)
	r.switches = len(segs) - 1
	return r, nil
}

// burstSegments is how many prepared segments the burst run asks for: one
// more than the records fill, within walfile's bound. o has its defaults.
func burstSegments(cfg WALBenchConfig, o walfile.Options) int {
	bytes := int64(cfg.SaturateRecords) * int64(walfile.RecordSize(cfg.RecordSize))
	per := o.SegmentSize - int64(o.BlockSize)
	return int(min((bytes+per-1)/per+1, walfile.MaxPreparedSegments))
}

// retainSegments is how many segments' worth of records the recycled run's
// retention keeps behind the writer.
const retainSegments = 2

// saturateRecycled runs the saturating producer with retention truncating
// behind the writer, as the node does after each snapshot, so that dropped
// segments go to the recycle pool and new segments reuse them. It measures
// cfg.RecycledRecords records once at least two segments have been reused.
func saturateRecycled(dir string, opts walfile.Options, cfg WALBenchConfig, res *WALBenchResult) error {
	l, err := walfile.Open(dir, opts)
	if err != nil {
		return err
	}
	defer l.Close()
	o, err := opts.EnsureDefaults()
	if err != nil {
		return err
	}
	perSeg := uint64((o.SegmentSize - int64(o.BlockSize)) / int64(walfile.RecordSize(cfg.RecordSize)))
	keep := retainSegments * perSeg
	// The first truncation waits until it drops enough segments to fill
	// the recycle pool, as a node's first snapshot would drop all the
	// segments written before it. From then on each one drops a segment
	// about when the writer leaves one, and the pool keeps that stock: one
	// truncating a segment at a time from an empty pool would hand it over
	// just after the file pipeline, having asked for one at the segment
	// switch, found the pool empty and begun to zero-fill.
	first := keep + uint64(max(o.RecycleSegments, 0))*perSeg
	stop := make(chan struct{})
	truncErr := make(chan error, 1)
	go func() {
		// The retention: a snapshot thread truncating behind the writer.
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		started := false
		for {
			select {
			case <-stop:
				truncErr <- nil
				return
			case <-t.C:
			}
			d := l.DurableSeq()
			started = started || d+1 > first
			if started && d+1 > keep {
				if err := l.TruncateBefore(d + 1 - keep); err != nil {
					truncErr <- err
					return
				}
			}
		}
	}()
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	}()
	payload := make([]byte, cfg.RecordSize)
	// Warm-up: until segments come from the pool.
	for deadline := time.Now().Add(2 * time.Minute); l.Stats().SegmentsRecycled < 2; {
		if time.Now().After(deadline) {
			return fmt.Errorf("no segment recycled after two minutes")
		}
		for i := range 1 << 16 {
			payload[0] = byte(i)
			if _, err := l.Append(1, payload); err != nil {
				return err
			}
		}
	}
	if err := l.Sync(); err != nil {
		return err
	}
	n := cfg.RecycledRecords
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := l.Stats()
	cpu0, proc0, wait0 := threadCPU(), processCPU(), runqueueWait()
	t := time.Now()
	for i := range n {
		payload[0] = byte(i)
		if _, err := l.Append(1, payload); err != nil {
			return err
		}
	}
	if err := l.Sync(); err != nil {
		return err
	}
	elapsed := time.Since(t)
	cpu, proc, wait := threadCPU()-cpu0, processCPU()-proc0, runqueueWait()-wait0
	st := l.Stats()
	close(stop)
	if err := <-truncErr; err != nil {
		return err
	}
	el := elapsed.Seconds()
	res.RecycledRecords = int64(n)
	res.RecycledRecordsPerSec = float64(n) / el
	res.RecycledBytesPerSec = res.RecycledRecordsPerSec * float64(walfile.RecordSize(cfg.RecordSize))
	res.RecycledAvgBatchRecords = float64(n) / float64(st.Batches-before.Batches)
	res.RecycledAvgSyncRecords = float64(n) / float64(st.Syncs-before.Syncs)
	res.RecycledSegmentSwitches = int(st.SegmentSwitches - before.SegmentSwitches)
	res.RecycledSegmentsReused = int(st.SegmentsRecycled - before.SegmentsRecycled)
	res.RecycledSealBusyFraction = float64(st.SealTime-before.SealTime) / float64(elapsed)
	res.RecycledWriteBusyFraction = float64(st.WriteTime-before.WriteTime) / float64(elapsed)
	res.RecycledSyncBusyFraction = float64(st.SyncTime-before.SyncTime) / float64(elapsed)
	res.RecycledProducerCPUFraction = float64(cpu) / float64(elapsed)
	res.RecycledProcessCPUCores = float64(proc) / float64(elapsed)
	res.RecycledRunqueueWaitCores = float64(wait) / float64(elapsed)
	return l.Close()
}

// waitSegmentsReady waits until the log's file pipeline has want segments
// ready (Options.PreparedSegments), and so is idle.
func waitSegmentsReady(l *walfile.Log, want int) error {
	for deadline := time.Now().Add(time.Minute); l.Stats().SegmentsReady < want; {
		if time.Now().After(deadline) {
			return fmt.Errorf("no segment prepared after a minute")
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// pacedResult is what one paced run measured.
type pacedResult struct {
	recordsPerSec, avgBatch, avgSync float64
	writeBusy, syncBusy              float64 // share of the run with a pwrite, an fdatasync in flight
	writeAvgUs, syncAvgUs            float64
	commit, observed                 *Histogram
}

// paced runs a producer appending records of recordSize bytes at rate per
// second for duration (after 100 ms of warm-up) and times each record from
// Append to durable.
func paced(dir string, opts walfile.Options, rate int, duration time.Duration, recordSize int) (*pacedResult, error) {
	interval := time.Second / time.Duration(rate)
	warm := rate / 10 // the first 100 ms are not recorded
	n := warm + int(int64(rate)*int64(duration)/int64(time.Second))
	// The log starts empty at sequence 1, so record i is sequence i+1.
	const base = 1
	sent := make([]time.Time, n)
	h := NewHistogram()  // Append → durable, timed by the writer (OnDurable)
	ho := NewHistogram() // Append → seen by a goroutine woken through Durable()
	durableNext := uint64(base)
	opts.OnDurable = func(d uint64) {
		now := time.Now()
		for ; durableNext <= d && durableNext < base+uint64(n); durableNext++ {
			if i := int(durableNext - base); i >= warm {
				h.Record(now.Sub(sent[i]).Nanoseconds())
			}
		}
	}
	l, err := walfile.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	defer l.Close()
	if l.NextSeq() != base {
		return nil, fmt.Errorf("fresh log starts at %d", l.NextSeq())
	}
	// A fresh log's file pipeline starts by zero-filling the next segment
	// (64 MiB by default): a one-off burst of writes that a log at this rate
	// sees once per segment (every ~35 s at 20k records/s), not a steady
	// cost. Measure the steady state.
	if err := waitSegmentsReady(l, max(opts.PreparedSegments, 1)); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	before := l.Stats()
	go func() {
		// The observer: one goroutine learns durability from the
		// watermark, as the node's engine loop does.
		defer wg.Done()
		next := uint64(base) // first sequence not yet seen durable
		end := base + uint64(n)
		for next < end {
			<-l.Durable()
			if l.Err() != nil {
				return
			}
			d := l.DurableSeq()
			now := time.Now()
			for ; next <= d && next < end; next++ {
				if i := int(next - base); i >= warm {
					ho.Record(now.Sub(sent[i]).Nanoseconds())
				}
			}
		}
	}()
	payload := make([]byte, recordSize)
	// Pace with nanosleep on a thread with a 1 µs timer slack: time.Sleep
	// has a resolution near 1 ms, and spinning would take a core from the
	// writer on a 2-core machine. A record that falls behind schedule is
	// appended at once.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_ = unix.Prctl(unix.PR_SET_TIMERSLACK, 1000, 0, 0, 0)
	start := time.Now()
	for i := range n {
		target := start.Add(time.Duration(i) * interval)
		if d := time.Until(target); d > 0 {
			ts := unix.NsecToTimespec(d.Nanoseconds())
			_ = unix.Nanosleep(&ts, nil)
		}
		sent[i] = time.Now()
		payload[0] = byte(i)
		if _, err := l.Append(1, payload); err != nil {
			return nil, err
		}
	}
	el := time.Since(start).Seconds()
	if err := l.Sync(); err != nil {
		return nil, err
	}
	wg.Wait()
	after := l.Stats()
	writes, syncs := float64(after.Batches-before.Batches), float64(after.Syncs-before.Syncs)
	wt, st := (after.WriteTime - before.WriteTime).Seconds(), (after.SyncTime - before.SyncTime).Seconds()
	return &pacedResult{
		recordsPerSec: float64(n) / el,
		avgBatch:      float64(n) / writes,
		avgSync:       float64(n) / syncs,
		writeBusy:     wt / el,
		syncBusy:      st / el,
		writeAvgUs:    wt * 1e6 / writes,
		syncAvgUs:     st * 1e6 / syncs,
		commit:        h,
		observed:      ho,
	}, l.Close()
}
