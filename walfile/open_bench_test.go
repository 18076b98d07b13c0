package walfile

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/internal/vfs"
)

// BenchmarkOpen is the restart cost of a log whose last segment is a
// default-sized (64 MiB) segment holding 1 MiB of records and the zeroed
// rest, on the real filesystem: warm, with the segment in the page cache,
// and cold, with its pages dropped from it first (posix_fadvise DONTNEED).
// The recycled variants have a recycled last segment instead, whose rest
// holds records of an earlier life: it is read and searched whole.
func BenchmarkOpen(b *testing.B) {
	b.Run("warm", func(b *testing.B) { benchOpen(b, false, false) })
	b.Run("cold", func(b *testing.B) { benchOpen(b, true, false) })
	b.Run("recycled-warm", func(b *testing.B) { benchOpen(b, false, true) })
	b.Run("recycled-cold", func(b *testing.B) { benchOpen(b, true, true) })
}

// fillPool puts in dir's recycle pool a 64 MiB segment file full of
// records, written by a log in another directory.
func fillPool(b *testing.B, dir string) {
	other := b.TempDir()
	l, err := Open(other, Options{FS: vfs.OS})
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 64)
	for range (64 << 20) / RecordSize(64) {
		if _, err := l.Append(1, p); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(filepath.Join(other, segmentName(1)), filepath.Join(dir, segmentName(1)+recycleExt)); err != nil {
		b.Fatal(err)
	}
}

// evict drops the pages of every segment in dir from the page cache.
func evict(b *testing.B, dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, "*"+segExt))
	for _, n := range names {
		f, err := os.Open(n)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

func benchOpen(b *testing.B, cold, recycled bool) {
	dir := b.TempDir()
	if recycled {
		fillPool(b, dir)
	}
	l, err := Open(dir, Options{FS: vfs.OS})
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 64)
	for range (1 << 20) / RecordSize(64) {
		if _, err := l.Append(1, p); err != nil {
			b.Fatal(err)
		}
	}
	if isRecycledDir(b, dir) != recycled {
		b.Fatalf("last segment recycled: %v", !recycled)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if cold {
			b.StopTimer()
			evict(b, dir)
			b.StartTimer()
		}
		l, err := Open(dir, Options{FS: vfs.OS})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// isRecycledDir reports whether the last segment in dir is recycled.
func isRecycledDir(b *testing.B, dir string) bool {
	segs, _, err := listSegments(vfs.OS, dir)
	if err != nil || len(segs) == 0 {
		b.Fatal(segs, err)
	}
	h, err := readSegHeader(vfs.OS, segs[len(segs)-1])
	if err != nil {
		b.Fatal(err)
	}
	return h.recycled()
}
