package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// fillNode runs a short load against a fresh node on fs, takes a snapshot
// every few hundred commands, and returns the node's state hash and the
// outcomes acked, after a clean close without a final snapshot.
func fillNode(t *testing.T, fs *vfs.MemFS, opts Options, snapshots int) (uint64, []ackRecord) {
	t.Helper()
	n, addr := openTest(t, "/data", opts)
	o := &oracle{}
	stop := make(chan struct{})
	wg := driveLoad(addr, 0, 3, 42, o, stop)
	for i := 0; i < snapshots; i++ {
		time.Sleep(30 * time.Millisecond)
		if err := n.Snapshot(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Enough commands for several log segments, however slow the machine.
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		o.mu.Lock()
		k := len(o.acked)
		o.mu.Unlock()
		if k >= 500 {
			break
		}
	}
	close(stop)
	wg.Wait()
	// Requests already taken from the gateway may still be queued: wait
	// until the sequence settles before taking the hash.
	for last := uint64(0); ; time.Sleep(50 * time.Millisecond) {
		st := n.Status()
		if st.Seq == last && st.DurableSeq == st.Seq {
			break
		}
		last = st.Seq
	}
	var hash uint64
	n.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { hash = e.Checksum() })
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if len(o.acked) == 0 {
		t.Fatal("no outcome acknowledged")
	}
	return hash, o.acked
}

func flipByte(t *testing.T, fs *vfs.MemFS, name string, off int64) {
	t.Helper()
	f, err := fs.OpenFile(name, 2 /* O_RDWR */, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptSnapshotFallsBack damages the newest snapshot, then every
// snapshot: recovery falls back to the older one, then to genesis, and
// reaches the same state hash each time.
func TestCorruptSnapshotFallsBack(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	opts.RetainLog = true
	opts.NoFinalSnapshot = true
	opts.SnapshotsKept = 3
	hash, acked := fillNode(t, fs, opts, 3)
	list, err := mmapsnap.List("/data/snap", mmapsnap.Options{FS: fs})
	if err != nil || len(list) < 2 {
		t.Fatalf("snapshots: %v %v", list, err)
	}
	check := func(wantSource string, wantSeq uint64) {
		t.Helper()
		n, _ := openTest(t, "/data", opts)
		defer n.Close()
		rec := n.Recovery()
		if rec.Source != wantSource || rec.SnapshotSeq != wantSeq {
			t.Fatalf("recovered from %s at seq %d, want %s at %d (skipped %v)", rec.Source, rec.SnapshotSeq, wantSource, wantSeq, rec.Skipped)
		}
		var got uint64
		n.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { got = e.Checksum() })
		if got != hash {
			t.Fatalf("state hash %x after recovery from %s, %x before", got, wantSource, hash)
		}
		if err := checkAcked(n, acked); err != nil {
			t.Fatal(err)
		}
	}
	check("snapshot", list[0].Seq)
	flipByte(t, fs, list[0].Path, list[0].FileBytes/2)
	check("snapshot", list[1].Seq)
	for _, in := range list[1:] {
		flipByte(t, fs, in.Path, in.FileBytes/2)
	}
	check("genesis", 0)
}

// TestLogBitFlipRefusesToStart flips a bit in the middle of the log: the
// node must refuse to open, naming the segment and offset and the repair
// command, rather than treat it as a torn tail.
func TestLogBitFlipRefusesToStart(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	opts.Log.SegmentSize = 16 << 10
	opts.RetainLog = true
	opts.NoFinalSnapshot = true
	fillNode(t, fs, opts, 0)
	segs, err := walfile.List("/data/wal", walfile.Options{FS: fs})
	if err != nil || len(segs) < 2 {
		t.Fatalf("segments: %+v %v", segs, err)
	}
	name := filepath.Join("/data/wal", segs[0].Name)
	flipByte(t, fs, name, 8192+100)
	_, err = Open("/data", opts)
	if err == nil {
		t.Fatal("the node opened a log with a flipped bit in its middle")
	}
	msg := err.Error()
	if !errors.Is(err, walfile.ErrCorrupt) || !strings.Contains(msg, filepath.Base(name)) || !strings.Contains(msg, "offset") ||
		!strings.Contains(msg, "cowbook wal repair --force --data /data") {
		t.Fatalf("error does not say where and how to repair: %v", err)
	}
	t.Logf("refused as it must: %v", err)
}

// TestManifestRequired: a damaged manifest, or a log without one, is
// refused rather than replaced by the options' shape.
func TestManifestRequired(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	n, _ := openTest(t, "/data", opts)
	n.Close()
	flipByte(t, fs, "/data/MANIFEST", 20)
	if _, err := Open("/data", opts); !errors.Is(err, ErrManifest) {
		t.Fatalf("damaged manifest: %v", err)
	}
	if err := fs.Remove("/data/MANIFEST"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open("/data", opts); !errors.Is(err, ErrManifest) {
		t.Fatalf("log without a manifest: %v", err)
	}
}

// TestReplayRefusesARepeatedRequest puts in the log, behind a node's own
// records, a command that repeats a client's request id: replay records
// outcomes in the idempotency table on its reader goroutine, and the
// refusal must still stop recovery, with the sequence and the request.
func TestReplayRefusesARepeatedRequest(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	opts.NoFinalSnapshot = true
	n, addr := openTest(t, "/data", opts)
	c := dial(t, addr, 31)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for id := uint64(1); id <= 3; id++ {
		if r, err := c.NewOrder(ctx, limit("AAA", id, wire.Buy, 120, 1)); err != nil || !r.Acked() {
			t.Fatalf("order %d: %v %v", id, r, err)
		}
	}
	c.Close()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := walfile.Open("/data/wal", walfile.Options{FS: fs, SegmentSize: opts.Log.SegmentSize, Buffered: true})
	if err != nil {
		t.Fatal(err)
	}
	cmd := engine.Command{Kind: engine.CmdNew, Symbol: engine.MustSymbol("AAA"), ID: 9, Account: 1, Side: engine.Buy, Type: engine.Limit, TIF: engine.GTC, Price: 121, Qty: 1}
	seq, err := l.Append(RecordCommand, appendRecord(nil, &cmd, 31, 2)) // request 2 again
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = Open("/data", opts)
	if !errors.Is(err, ErrRecovery) || !strings.Contains(err.Error(), "idempotency table refused") ||
		!strings.Contains(err.Error(), fmt.Sprintf("seq %d", seq)) || !strings.Contains(err.Error(), "request 2") {
		t.Fatalf("Open = %v, want the idempotency table's refusal of seq %d", err, seq)
	}
}
