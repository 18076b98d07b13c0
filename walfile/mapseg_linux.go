package walfile

import (
	"os"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/internal/vfs"
)

// mapSegment maps the segment at path read-only when fs is the operating
// system's, so that a Reader walks the page cache in place instead of
// copying 64 MiB into a buffer it first has to zero. It returns ok false
// (and no error) for any other filesystem, or when the file cannot be
// mapped, and the caller reads the file instead. With private set the
// mapping is also writable, copy-on-write: changes stay in memory and never
// reach the file (cutTail zeroes the bytes it cut in the buffer it has).
func mapSegment(fs vfs.FS, path string, private bool) (b []byte, unmap func(), ok bool) {
	if fs != vfs.OS {
		return nil, nil, false
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() <= 0 || st.Size() > 1<<40 {
		return nil, nil, false
	}
	prot, flags := unix.PROT_READ, unix.MAP_SHARED
	if private {
		prot, flags = unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), prot, flags)
	if err != nil {
		return nil, nil, false
	}
	// Read ahead, in order: the whole segment is about to be walked once.
	_ = unix.Madvise(m, unix.MADV_SEQUENTIAL)
	_ = unix.Madvise(m, unix.MADV_WILLNEED)
	return m, func() { _ = unix.Munmap(m) }, true
}
