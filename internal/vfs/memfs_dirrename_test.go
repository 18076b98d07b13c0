package vfs

import (
	"os"
	"testing"
)

// TestMemFSDirRename renames a directory with files in it: the files move
// at once; after a crash the rename is gone unless the parent was synced,
// and then the files' durable contents moved with it.
func TestMemFSDirRename(t *testing.T) {
	setup := func(t *testing.T) *MemFS {
		m := NewMemFS()
		if err := m.MkdirAll("/d/a", 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := m.OpenFile("/d/a/x", os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt([]byte("hello"), 0); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
		for _, d := range []string{"/d/a", "/d", "/"} {
			if err := m.SyncDir(d); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.Rename("/d/a", "/d/b"); err != nil {
			t.Fatal(err)
		}
		return m
	}
	read := func(m *MemFS, name string) string {
		b, err := ReadFile(m, name)
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	m := setup(t)
	if read(m, "/d/b/x") != "hello" || read(m, "/d/a/x") == "hello" {
		t.Fatalf("after rename: b/x %q, a/x %q", read(m, "/d/b/x"), read(m, "/d/a/x"))
	}
	if _, isDir, err := m.Stat("/d/a"); err == nil || isDir {
		t.Fatal("the old name is still a directory")
	}
	if err := m.Rename("/d/b", "/d/b/c"); err == nil {
		t.Fatal("a directory renamed into itself")
	}

	c := m.Crash(CrashOptions{})
	if read(c, "/d/a/x") != "hello" || read(c, "/d/b/x") == "hello" {
		t.Fatalf("crash before the parent's sync: a/x %q, b/x %q", read(c, "/d/a/x"), read(c, "/d/b/x"))
	}

	m = setup(t)
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
	c = m.Crash(CrashOptions{})
	if read(c, "/d/b/x") != "hello" || read(c, "/d/a/x") == "hello" {
		t.Fatalf("crash after the parent's sync: b/x %q, a/x %q", read(c, "/d/b/x"), read(c, "/d/a/x"))
	}
}
