package zeros

import "testing"

// TestAll sets one byte at a time, across chunk boundaries, in buffers of
// several lengths: All must see every one of them.
func TestAll(t *testing.T) {
	for _, n := range []int{0, 1, 7, len(chunk) - 1, len(chunk), len(chunk) + 1, 3*len(chunk) + 5} {
		b := make([]byte, n)
		if !All(b) {
			t.Fatalf("%d zero bytes: All = false", n)
		}
		for _, i := range []int{0, n / 2, len(chunk) - 1, len(chunk), n - 1} {
			if i < 0 || i >= n {
				continue
			}
			b[i] = 1
			if All(b) {
				t.Fatalf("%d bytes, byte %d set: All = true", n, i)
			}
			b[i] = 0
		}
	}
}
