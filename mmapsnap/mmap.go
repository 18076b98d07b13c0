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
	// Start reading the whole file ahead, asynchronously: after a restart it
	// is usually not in the page cache. (MADV_POPULATE_READ measured no
	// faster when it is cached, and it would fault the whole file in on this
	// one thread before the workers start.) Only a hint.
	_ = unix.Madvise(m, unix.MADV_WILLNEED)
	return m, func() { _ = m.Unmap() }, nil
}
