package mmapsnap_test

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"testing"

	"github.com/cowbook/cowbook/mmapsnap"
)

func seqs(list []mmapsnap.Info) []uint64 {
	var s []uint64
	for _, in := range list {
		s = append(s, in.Seq)
	}
	return s
}

// corruptFile flips one byte in the middle of a MemFS file.
func corruptFile(t *testing.T, fs interface {
	Bytes(string) ([]byte, bool)
}, put func(name string, b []byte), name string) {
	t.Helper()
	b, ok := fs.Bytes(name)
	if !ok {
		t.Fatalf("no file %s", name)
	}
	b[len(b)/2] ^= 0xff
	put(name, b)
}

func TestCatalog(t *testing.T) {
	const dir = "/snap"
	m := newMemDir(t, dir)
	arenas := map[uint64][]byte{}
	opts := mmapsnap.Options{FS: m, BlockSize: mmapsnap.MinBlockSize}
	for _, seq := range []uint64{5, 100, 7, 42, 9} {
		arenas[seq] = payload("orders", 2*mmapsnap.MinBlockSize+int(seq), seq)
		mustWrite(t, m, dir, seq, arenas[seq], opts)
	}
	putFile(t, m, path.Join(dir, "README"), []byte("not a snapshot"))
	putFile(t, m, path.Join(dir, mmapsnap.FileName(3)+".tmp"), []byte("left by a crash"))
	putFile(t, m, path.Join(dir, mmapsnap.FileName(200)+".tmp"), []byte("a write in progress"))
	put := func(name string, b []byte) { putFile(t, m, name, b) }

	list, err := mmapsnap.List(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(seqs(list)); got != "[100 42 9 7 5]" {
		t.Fatalf("List order %s", got)
	}

	// The newest is damaged in a block (List cannot tell; Verify can) and
	// the next one in its header (List reports it).
	corruptFile(t, m, put, path.Join(dir, mmapsnap.FileName(100)))
	b, _ := m.Bytes(path.Join(dir, mmapsnap.FileName(42)))
	b[20] ^= 1
	put(path.Join(dir, mmapsnap.FileName(42)), b)

	list, _ = mmapsnap.List(dir, opts)
	if list[1].Seq != 42 || !errors.Is(list[1].Err, mmapsnap.ErrChecksum) || list[0].Err != nil {
		t.Fatalf("List after damage: %+v", list[:2])
	}
	newest, skipped, err := mmapsnap.Newest(dir, opts)
	if err != nil || newest.Seq != 9 || len(skipped) != 2 || skipped[0].Path != path.Join(dir, mmapsnap.FileName(100)) ||
		!errors.Is(skipped[0].Err, mmapsnap.ErrChecksum) || !errors.Is(skipped[1].Err, mmapsnap.ErrChecksum) {
		t.Fatalf("Newest = %d, skipped %v, %v", newest.Seq, skipped, err)
	}
	dst := make([]byte, 3*mmapsnap.MinBlockSize)
	got, skipped, err := mmapsnap.LoadNewest(dir, dst, opts)
	if err != nil || got.Seq != 9 || len(skipped) != 2 || !bytes.Equal(dst[:got.ArenaSize], arenas[9]) {
		t.Fatalf("LoadNewest = %d, skipped %v, %v", got.Seq, skipped, err)
	}

	// Retain 2 counts only snapshots whose header, index and footer are valid
	// (100 counts: its damage is in a block; 42 does not), keeps everything
	// newer than the oldest kept, and removes stale temporary files.
	if _, err := mmapsnap.Retain(dir, 0, opts); err == nil {
		t.Fatalf("Retain 0 accepted")
	}
	removed, err := mmapsnap.Retain(dir, 2, opts)
	if err != nil {
		t.Fatal(err)
	}
	names, _ := m.ReadDir(dir)
	want := []string{"README", mmapsnap.FileName(9), mmapsnap.FileName(42), mmapsnap.FileName(100), mmapsnap.FileName(200) + ".tmp"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("after Retain(2) removed %v: %v, want %v", removed, names, want)
	}
	if len(removed) != 3 {
		t.Fatalf("Retain removed %v", removed)
	}

	// Nothing valid: ErrNotFound, and Retain removes nothing.
	corruptFile(t, m, put, path.Join(dir, mmapsnap.FileName(9)))
	b, _ = m.Bytes(path.Join(dir, mmapsnap.FileName(100)))
	b[70] ^= 1 // first block's header: 100's earlier damage is mid-file
	put(path.Join(dir, mmapsnap.FileName(100)), b)
	if _, skipped, err := mmapsnap.Newest(dir, opts); !errors.Is(err, mmapsnap.ErrNotFound) || len(skipped) != 3 {
		t.Fatalf("Newest with nothing valid: %v, skipped %v", err, skipped)
	}

	if list, err := mmapsnap.List("/missing", opts); err != nil || len(list) != 0 {
		t.Fatalf("List of a missing dir = %v, %v", list, err)
	}
}

func TestRetainKeepsNewestK(t *testing.T) {
	const dir = "/snap"
	m := newMemDir(t, dir)
	opts := mmapsnap.Options{FS: m, BlockSize: mmapsnap.MinBlockSize}
	for seq := uint64(1); seq <= 6; seq++ {
		mustWrite(t, m, dir, seq, payload("zero", 100, seq), opts)
	}
	if _, err := mmapsnap.Retain(dir, 10, opts); err != nil {
		t.Fatal(err)
	}
	if list, _ := mmapsnap.List(dir, opts); len(list) != 6 {
		t.Fatalf("Retain(10) of 6 left %v", seqs(list))
	}
	if _, err := mmapsnap.Retain(dir, 3, opts); err != nil {
		t.Fatal(err)
	}
	// Removal is durable: the directory was synced.
	list, _ := mmapsnap.List(dir, mmapsnap.Options{FS: m.Crash(vfsCrashNone)})
	if fmt.Sprint(seqs(list)) != "[6 5 4]" {
		t.Fatalf("after Retain(3) and a crash: %v", seqs(list))
	}
}
