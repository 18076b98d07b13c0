package vfs

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

func mustWrite(t *testing.T, fs FS, name string, data []byte, sync bool) {
	t.Helper()
	f, err := Create(fs, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestMemFSCrashDropsUnsyncedData(t *testing.T) {
	m := NewMemFS()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, m, "/d/synced", []byte("kept"), true)
	mustWrite(t, m, "/d/unsynced", []byte("lost"), false)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	f, _ := m.OpenFile("/d/synced", os.O_RDWR, 0)
	f.WriteAt([]byte("XX"), 0) // not synced: must not survive
	c := m.Crash(CrashOptions{})
	got, ok := c.Bytes("/d/synced")
	if !ok || string(got) != "kept" {
		t.Fatalf("synced file after crash = %q, %v; want %q", got, ok, "kept")
	}
	got, ok = c.Bytes("/d/unsynced")
	if !ok || len(got) != 0 {
		t.Fatalf("unsynced file after crash = %q, %v; want an empty file", got, ok)
	}
}

func TestMemFSCrashDropsUnsyncedDirEntries(t *testing.T) {
	m := NewMemFS()
	m.MkdirAll("/d", 0o755)
	m.SyncDir("/")
	mustWrite(t, m, "/d/a", []byte("a"), true)
	// The file is synced but its directory entry is not: a crash loses it.
	if c := m.Crash(CrashOptions{}); len(c.Files()) != 0 {
		t.Fatalf("entry survived without SyncDir: %v", c.Files())
	}
	m.SyncDir("/d")
	mustWrite(t, m, "/d/tmp", []byte("new"), true)
	if err := m.Rename("/d/tmp", "/d/a"); err != nil {
		t.Fatal(err)
	}
	c := m.Crash(CrashOptions{})
	if got, _ := c.Bytes("/d/a"); string(got) != "a" {
		t.Fatalf("rename without SyncDir: /d/a = %q, want the old %q", got, "a")
	}
	m.SyncDir("/d")
	c = m.Crash(CrashOptions{})
	if got, _ := c.Bytes("/d/a"); string(got) != "new" {
		t.Fatalf("rename after SyncDir: /d/a = %q, want %q", got, "new")
	}
	if _, ok := c.Bytes("/d/tmp"); ok {
		t.Fatal("renamed-away name survived SyncDir")
	}
}

func TestMemFSCrashUnsyncedDirectory(t *testing.T) {
	m := NewMemFS()
	m.MkdirAll("/a/b", 0o755)
	mustWrite(t, m, "/a/b/f", []byte("x"), true)
	m.SyncDir("/a/b")
	m.SyncDir("/a") // /a/b durable in /a, but /a itself is not durable in /
	c := m.Crash(CrashOptions{})
	if _, _, err := c.Stat("/a"); err == nil {
		t.Fatal("directory survived without SyncDir of its parent")
	}
	if len(c.Files()) != 0 {
		t.Fatalf("files under a lost directory survived: %v", c.Files())
	}
}

func TestMemFSCrashTearsAtSectors(t *testing.T) {
	m := NewMemFS()
	f, _ := Create(m, "/f")
	m.SyncDir("/")
	data := bytes.Repeat([]byte{0xAB}, 64*SectorSize)
	f.WriteAt(make([]byte, len(data)), 0)
	f.Sync()
	f.WriteAt(data, 0)
	sawPartial := false
	for seed := int64(0); seed < 20; seed++ {
		c := m.Crash(CrashOptions{Rand: rand.New(rand.NewSource(seed))})
		img, _ := c.Bytes("/f")
		if len(img) != len(data) {
			t.Fatalf("seed %d: size %d, want %d", seed, len(img), len(data))
		}
		kept := 0
		for s := 0; s < len(img); s += SectorSize {
			sec := img[s : s+SectorSize]
			switch {
			case bytes.Equal(sec, data[s:s+SectorSize]):
				kept++
			case bytes.Equal(sec, make([]byte, SectorSize)):
			default:
				t.Fatalf("seed %d: sector %d is neither old nor new", seed, s/SectorSize)
			}
		}
		if kept > 0 && kept < len(img)/SectorSize {
			sawPartial = true
		}
	}
	if !sawPartial {
		t.Fatal("random crashes never tore a write")
	}
}

func TestMemFSDirectAlignment(t *testing.T) {
	m := NewMemFS()
	f, err := m.OpenFile("/f", os.O_RDWR|os.O_CREATE|ODirect, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	buf := AlignedBuffer(2 * DirectAlign)
	if _, err := f.WriteAt(buf[:DirectAlign], 0); err != nil {
		t.Fatalf("aligned write: %v", err)
	}
	for _, c := range []struct {
		name string
		p    []byte
		off  int64
	}{
		{"offset", buf[:DirectAlign], 512},
		{"length", buf[:100], 0},
		{"address", buf[1 : DirectAlign+1], 0},
	} {
		if _, err := f.WriteAt(c.p, c.off); err == nil {
			t.Errorf("misaligned %s accepted", c.name)
		}
	}
}

func TestFailAt(t *testing.T) {
	m := NewMemFS()
	inj := &FailAt{Ops: OpSync, N: 1, Err: ErrIO, Sticky: true}
	fs := Inject(m, inj)
	f, err := Create(fs, "/f")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("a"))
	if err := f.Datasync(); err != nil {
		t.Fatalf("sync 0: %v", err)
	}
	if err := f.Datasync(); !errors.Is(err, ErrIO) {
		t.Fatalf("sync 1 = %v, want EIO", err)
	}
	if err := f.Sync(); !errors.Is(err, ErrIO) {
		t.Fatalf("sync 2 (sticky) = %v, want EIO", err)
	}
	if _, err := f.Write([]byte("b")); err != nil {
		t.Fatalf("write is not a chosen op, got %v", err)
	}
	if !inj.Fired() || inj.Seen() != 3 {
		t.Fatalf("fired=%v seen=%d", inj.Fired(), inj.Seen())
	}
}

func TestSkipSyncIsBlind(t *testing.T) {
	m := NewMemFS()
	m.MkdirAll("/d", 0o755)
	m.SyncDir("/")
	fs := SkipSync(m, OpSync|OpSyncDir)
	mustWrite(t, fs, "/d/f", []byte("x"), true)
	fs.SyncDir("/d")
	if c := m.Crash(CrashOptions{}); len(c.Files()) != 0 {
		t.Fatalf("SkipSync synced something: %v", c.Files())
	}
}

func TestOSFS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	mustWrite(t, OS, p, []byte("hello"), true)
	if err := OS.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(OS, p)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
	f, _ := Open(Inject(OS, &FailAt{N: -1}), p)
	if _, ok := Fd(f); !ok {
		t.Fatal("Fd does not see through Inject")
	}
	f.Close()
	names, err := OS.ReadDir(dir)
	if err != nil || len(names) != 1 || names[0] != "f" {
		t.Fatalf("ReadDir = %v, %v", names, err)
	}
	g, err := OS.OpenFile(p, os.O_RDWR|ODirect, 0)
	if err != nil {
		t.Skipf("O_DIRECT not supported here: %v", err)
	}
	buf := AlignedBuffer(DirectAlign)
	copy(buf, "direct")
	if _, err := g.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := g.Datasync(); err != nil {
		t.Fatal(err)
	}
	g.Close()
}
