package prefetch

import (
	"testing"
	"unsafe"
)

// TestLineChangesNothing prefetches every line of a buffer, and addresses
// outside any mapping, and checks that the buffer is unchanged and nothing
// faulted.
func TestLineChangesNothing(t *testing.T) {
	buf := make([]byte, 1<<16)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for i := 0; i < len(buf); i += 64 {
		Line(unsafe.Pointer(&buf[i]))
	}
	Line(nil)                                        // page 0 is never mapped
	Line(unsafe.Add(unsafe.Pointer(&buf[0]), 1<<40)) // far past the buffer
	for i := range buf {
		if buf[i] != byte(i*7) {
			t.Fatalf("byte %d changed", i)
		}
	}
}
