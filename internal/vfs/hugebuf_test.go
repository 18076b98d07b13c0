package vfs

import (
	"testing"
	"unsafe"
)

func TestHugeBuffer(t *testing.T) {
	for _, n := range []int{1, 4096, 1<<20 + 8192, 5 << 20} {
		b, release, err := HugeBuffer(n)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n || cap(b) != n {
			t.Fatalf("HugeBuffer(%d): len %d cap %d", n, len(b), cap(b))
		}
		if uintptr(unsafe.Pointer(&b[0]))%DirectAlign != 0 {
			t.Fatalf("HugeBuffer(%d) not aligned for O_DIRECT", n)
		}
		for i, c := range b {
			if c != 0 {
				t.Fatalf("HugeBuffer(%d): byte %d is %d", n, i, c)
			}
		}
		for i := range b {
			b[i] = byte(i)
		}
		release()
		release() // idempotent
	}
}
