package node

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// BenchmarkReplayApplier separates replay's applier from its reader: the
// tail of `bench recovery`'s data (1M resting orders, 1M uniformly random
// commands) is decoded into batches first, then applied to a freshly loaded
// snapshot, through applyBatches (engine, owner table, outcomes noted) or
// through the engine alone with the same prefetching. replay is the whole
// pipeline (Node.replay: the reader and the applier on their goroutines),
// reader the reader alone, its batches handed straight back. ns/cmd is per
// command. A book just loaded from a snapshot is colder than the one
// engine's BenchmarkColdTail builds in place (part of which is still in
// the last-level cache), so the engine alone costs more here.
func BenchmarkReplayApplier(b *testing.B) {
	const orders, tail = 1_000_000, 1_000_000
	data, _, err := benchData(b.TempDir(), orders, tail, false, walfile.Options{Buffered: true})
	if err != nil {
		b.Fatal(err)
	}
	n := &Node{dir: data, opts: Options{FS: vfs.OS}}
	if n.man, err = readManifest(vfs.OS, data); err != nil {
		b.Fatal(err)
	}
	cfg, err := n.man.engineConfig()
	if err != nil {
		b.Fatal(err)
	}
	load := func() {
		if n.eng != nil {
			n.eng.Close()
			_ = engine.FreeArena(n.arena)
			n.eng = nil
		}
		if err := n.loadSnapshot(cfg); err != nil || n.rec.Source != "snapshot" {
			b.Fatalf("load: %v (%s)", err, n.rec.Source)
		}
	}
	load()
	defer func() {
		n.eng.Close()
		_ = engine.FreeArena(n.arena)
	}()
	r, err := walfile.NewReader(filepath.Join(data, "wal"), walfile.Options{}, n.eng.LastSeq()+1)
	if err != nil {
		b.Fatal(err)
	}
	var batches []*replayBatch
	for cur := (*replayBatch)(nil); ; {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		cmd, cid, reqID, err := decodeRecord(rec.Type, rec.Payload)
		if err != nil {
			b.Fatal(err)
		}
		if cur == nil || len(cur.recs) == replayBatchLen {
			cur = &replayBatch{recs: make([]replayRec, 0, replayBatchLen)}
			batches = append(batches, cur)
		}
		cur.recs = append(cur.recs, replayRec{seq: rec.Seq, cmd: cmd, cid: cid, reqID: reqID})
	}
	r.Close()
	if len(batches) == 0 {
		b.Fatal("no tail")
	}
	run := func(b *testing.B, apply func()) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			load()
			b.StartTimer()
			apply()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*tail), "ns/cmd")
	}
	b.Run("applyBatches", func(b *testing.B) {
		run(b, func() {
			in, out := make(chan *replayBatch, len(batches)), make(chan *replayBatch, len(batches))
			for _, bt := range batches {
				in <- bt
			}
			close(in)
			if err := n.applyBatches(in, out); err != nil {
				b.Fatal(err)
			}
		})
	})
	lg, err := walfile.Open(filepath.Join(data, "wal"), walfile.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer lg.Close()
	n.log = lg
	b.Run("replay", func(b *testing.B) {
		run(b, func() {
			if err := n.replay(); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("reader", func(b *testing.B) {
		run(b, func() {
			r, err := n.log.NewReader(n.eng.LastSeq() + 1)
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			const nbatches = 4
			batches, applied := make(chan *replayBatch, nbatches), make(chan *replayBatch, nbatches)
			exited := make(chan error)
			go func() { exited <- readBatches(r, n.dd, n.ot, nbatches, batches, applied, nil) }()
			for bt := range batches {
				applied <- bt
			}
			close(applied)
			if err := <-exited; err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("engine", func(b *testing.B) {
		d := engine.PrefetchDistance()
		run(b, func() {
			for _, bt := range batches {
				for i := range bt.recs {
					for k, dist := range d {
						if j := i + dist; j < len(bt.recs) {
							n.eng.Prefetch(&bt.recs[j].cmd, k)
						}
					}
					var err error
					if n.events, err = n.eng.Apply(bt.recs[i].seq, &bt.recs[i].cmd, n.events[:0]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	})
}
