package perf

import (
	"bytes"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func TestArenaImage(t *testing.T) {
	a, b, c := make([]byte, 4<<20), make([]byte, 4<<20), make([]byte, 4<<20)
	ArenaImage(a, 1)
	ArenaImage(b, 1)
	ArenaImage(c, 2)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, different images")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same image")
	}
	// Order-like: compressible, but far from all zeros or all noise.
	var comp lz4.CompressorCCompat
	out := make([]byte, lz4.CompressBlockBound(len(a)))
	n, err := comp.CompressBlock(a, out)
	if err != nil {
		t.Fatal(err)
	}
	if ratio := float64(len(a)) / float64(n); ratio < 2 || ratio > 20 {
		t.Fatalf("compression ratio %.2f: not order-like", ratio)
	}
	for _, size := range []int{0, 1, 100, 12287, 12288, 70000} {
		ArenaImage(make([]byte, size), 3) // any size works
	}
}
