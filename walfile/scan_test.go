package walfile

import (
	"math/rand/v2"
	"testing"
)

// TestNextTagged compares nextTagged with a byte-by-byte search over
// buffers of every length up to 200 bytes plus larger ones, with the tag
// planted at random offsets (aligned and not), from every start offset.
func TestNextTagged(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	naive := func(b []byte, p int, tag uint32) int {
		for ; p+RecordHeaderLen <= len(b); p += recordAlign {
			if b[p+21] == byte(tag) && b[p+22] == byte(tag>>8) && b[p+23] == byte(tag>>16) {
				return p
			}
		}
		return -1
	}
	for _, tag := range []uint32{0, 1, 0x123456, tagMask} {
		for _, n := range append(func() (s []int) {
			for n := range 200 {
				s = append(s, n)
			}
			return
		}(), 1000, 4099) {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			for range 1 + n/50 {
				if n >= 3 {
					at := rng.IntN(n - 2)
					b[at], b[at+1], b[at+2] = byte(tag), byte(tag>>8), byte(tag>>16)
				}
			}
			for from := 0; from <= n; from++ {
				if got, want := nextTagged(b, from, tag), naive(b, from, tag); got != want {
					t.Fatalf("tag %#x, %d bytes, from %d: nextTagged %d, byte search %d", tag, n, from, got, want)
				}
			}
		}
	}
}
