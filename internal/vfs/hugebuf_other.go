//go:build !linux

package vfs

// HugeBuffer returns AlignedBuffer(n): huge pages for O_DIRECT buffers are
// only asked for on Linux. release does nothing.
func HugeBuffer(n int) (buf []byte, release func(), err error) {
	return AlignedBuffer(n), func() {}, nil
}
