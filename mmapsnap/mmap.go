package mmapsnap

import (
	"os"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// mapFile maps size bytes of the open descriptor fd read-only. It maps a
// duplicate of fd wrapped in its own *os.File (mmap-go takes one), so that
// the wrapper's finalizer can never close the caller's descriptor; the
// mapping outlives both.
func mapFile(fd uintptr, size int64, path string) ([]byte, func(), error) {
	dup, err := unix.Dup(int(fd))
	if err != nil {
		return nil, nil, &os.PathError{Op: "dup", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(dup), path)
	m, err := mmap.MapRegion(f, int(size), mmap.RDONLY, 0, 0)
	f.Close()
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	// Fill the page tables in one call rather than one fault per page as the
	// workers first touch them; the file is usually in the page cache, just
	// written or read by Inspect. Only a hint: older kernels refuse it.
	_ = unix.Madvise(m, unix.MADV_POPULATE_READ)
	return m, func() { _ = m.Unmap() }, nil
}
