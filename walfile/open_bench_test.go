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
func BenchmarkOpen(b *testing.B) {
	b.Run("warm", func(b *testing.B) { benchOpen(b, false) })
	b.Run("cold", func(b *testing.B) { benchOpen(b, true) })
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

func benchOpen(b *testing.B, cold bool) {
	dir := b.TempDir()
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
