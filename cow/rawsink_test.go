package cow

import (
	"bytes"
	"io"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// TestRawFileSinkDurable crashes a MemFS after the sink returns and checks
// the file survives whole; the negative control skips the syncs and must
// lose it.
func TestRawFileSinkDurable(t *testing.T) {
	arena := make([]byte, 1<<20)
	fill(arena, 9)
	for _, skip := range []bool{false, true} {
		mem := vfs.NewMemFS()
		if err := mem.MkdirAll("/snap", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := mem.SyncDir("/"); err != nil {
			t.Fatal(err)
		}
		var fs vfs.FS = mem
		if skip {
			fs = vfs.SkipSync(mem, vfs.OpSync|vfs.OpSyncDir)
		}
		pub, err := RawFileSink(fs, "/snap", 0)(Meta{Seq: 5, ArenaSize: int64(len(arena))}, bytes.NewReader(arena))
		if err != nil {
			t.Fatal(err)
		}
		after := mem.Crash(vfs.CrashOptions{})
		got, err := vfs.ReadFile(after, pub.Path)
		survived := err == nil && bytes.Equal(got, arena)
		if survived == skip {
			t.Fatalf("skip syncs %v: file survived the crash %v", skip, survived)
		}
	}
}

func TestRawFileSinkShortStream(t *testing.T) {
	mem := vfs.NewMemFS()
	_ = mem.MkdirAll("/snap", 0o755)
	_, err := RawFileSink(mem, "/snap", 0)(Meta{Seq: 1, ArenaSize: 100}, io.LimitReader(bytes.NewReader(make([]byte, 100)), 60))
	if err == nil {
		t.Fatal("short stream published")
	}
	if names, _ := mem.ReadDir("/snap"); len(names) != 0 {
		t.Fatalf("left %v behind", names)
	}
}

func TestRawFileSinkKeepsNewest(t *testing.T) {
	mem := vfs.NewMemFS()
	_ = mem.MkdirAll("/snap", 0o755)
	sink := RawFileSink(mem, "/snap", 2)
	for seq := uint64(1); seq <= 4; seq++ {
		if _, err := sink(Meta{Seq: seq, ArenaSize: 10}, bytes.NewReader(make([]byte, 10))); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := mem.ReadDir("/snap")
	if len(names) != 2 || names[0] != "raw-00000000000000000003.arena" || names[1] != "raw-00000000000000000004.arena" {
		t.Fatalf("kept %v", names)
	}
}
