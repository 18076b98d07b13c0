package node

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/walfile"
)

// TestRestartLogAfterSnapshot cuts the log below the newest snapshot with a
// forced repair, as an operator would after damage: the node refuses to
// start, RestartLogAfterSnapshot moves the log aside and starts a new one
// right after the snapshot, and the node then starts from the snapshot's
// state, byte for byte.
func TestRestartLogAfterSnapshot(t *testing.T) {
	fs := vfs.NewMemFS()
	opts := testOptions(fs)
	opts.Log.SegmentSize = 16 << 10
	opts.RetainLog = true
	opts.NoFinalSnapshot = true
	fillNode(t, fs, opts, 2)
	snap, _, err := mmapsnap.Newest("/data/snap", mmapsnap.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	lopts := opts.Log
	lopts.FS = fs

	// Nothing to do while the log continues the snapshot.
	if _, err := RestartLogAfterSnapshot("/data", opts); err == nil || !strings.Contains(err.Error(), "starts from them as they are") {
		t.Fatalf("restart of a whole log: %v", err)
	}
	// Damage in the first segment, cut there by force: the log now ends
	// below the snapshot.
	segs, err := walfile.List("/data/wal", lopts)
	if err != nil || len(segs) < 3 {
		t.Fatalf("segments: %d %v", len(segs), err)
	}
	flipByte(t, fs, filepath.Join("/data/wal", segs[0].Name), 8192+100)
	if _, err := RestartLogAfterSnapshot("/data", opts); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("restart of a damaged log: %v", err)
	}
	if _, err := walfile.Repair("/data/wal", lopts, true); err != nil {
		t.Fatal(err)
	}
	rep, err := walfile.Inspect("/data/wal", lopts)
	if err != nil || rep.LastSeq >= snap.Seq {
		t.Fatalf("after the forced repair the log ends at %d, the snapshot is at %d (%v)", rep.LastSeq, snap.Seq, err)
	}
	if _, err := Open("/data", opts); err == nil || !strings.Contains(err.Error(), "missing from the log") {
		t.Fatalf("a node whose log ends below its snapshot opened: %v", err)
	}

	res, err := RestartLogAfterSnapshot("/data", opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.SnapshotSeq != snap.Seq || res.FirstSeq != snap.Seq+1 || res.OldLastSeq != rep.LastSeq || res.Aside != fmt.Sprintf("/data/wal.before-%d", snap.Seq+1) {
		t.Fatalf("restart: %+v (snapshot %d, log ended at %d)", res, snap.Seq, rep.LastSeq)
	}
	old, err := walfile.Inspect(res.Aside, lopts)
	if err != nil || old.LastSeq != rep.LastSeq || old.Records != rep.Records {
		t.Fatalf("the old log aside: %+v %v", old, err)
	}
	if _, err := RestartLogAfterSnapshot("/data", opts); err == nil || !strings.Contains(err.Error(), "already starts right after") {
		t.Fatalf("second restart: %v", err)
	}

	// The snapshot's state, independently.
	man, err := readManifest(fs, "/data")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := man.engineConfig()
	if err != nil {
		t.Fatal(err)
	}
	size, err := engine.ArenaSize(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := engine.AllocArena(size)
	if err != nil {
		t.Fatal(err)
	}
	defer engine.FreeArena(mem)
	if _, err := mmapsnap.Load(snap.Path, mem, mmapsnap.Options{FS: fs}); err != nil {
		t.Fatal(err)
	}
	want, err := engine.Attach(mem)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := openTest(t, "/data", opts)
	rec := n.Recovery()
	if rec.Source != "snapshot" || rec.SnapshotSeq != snap.Seq || rec.LastSeq != snap.Seq {
		t.Fatalf("recovered %+v", rec)
	}
	var got uint64
	n.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { got = e.Checksum() })
	if got != want.Checksum() {
		t.Fatalf("state %x after the restart, the snapshot holds %x", got, want.Checksum())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if first, err := walfile.List("/data/wal", lopts); err != nil || len(first) == 0 || first[0].FirstSeq != snap.Seq+1 {
		t.Fatalf("new log: %+v %v", first, err)
	}
}
