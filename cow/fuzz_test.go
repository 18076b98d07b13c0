package cow

import (
	"testing"
)

// FuzzCheckHeader feeds arbitrary pipe headers to the helper's check: it
// must never panic, and must accept exactly the header the node would
// have written for the request.
func FuzzCheckHeader(f *testing.F) {
	var good [headerSize]byte
	putHeader(&good, 3, 99, 4096, 2)
	f.Add(good[:], uint64(3), uint64(99), int64(4096), uint32(2))
	f.Add(good[:10], uint64(3), uint64(99), int64(4096), uint32(2))
	f.Add(make([]byte, headerSize), uint64(0), uint64(0), int64(0), uint32(0))
	f.Fuzz(func(t *testing.T, b []byte, id, seq uint64, size int64, layout uint32) {
		req := request{Op: opPipe, ID: id, Seq: seq, ArenaSize: size, LayoutVersion: layout}
		err := checkHeader(b, req)
		var want [headerSize]byte
		putHeader(&want, id, seq, size, layout)
		if (err == nil) != (string(b) == string(want[:])) {
			t.Fatalf("checkHeader(%x, %+v) = %v", b, req, err)
		}
	})
}

func TestCheckHeader(t *testing.T) {
	req := request{Op: opPipe, ID: 1, Seq: 2, ArenaSize: 3, LayoutVersion: 4}
	var good [headerSize]byte
	putHeader(&good, 1, 2, 3, 4)
	flip := func(i int) []byte { b := good; b[i] ^= 1; return b[:] }
	other := func(id, seq uint64, size int64, layout uint32) []byte {
		var b [headerSize]byte
		putHeader(&b, id, seq, size, layout)
		return b[:]
	}
	cases := []struct {
		name string
		b    []byte
		ok   bool
	}{
		{"good", good[:], true},
		{"short", good[:63], false},
		{"magic", flip(0), false},
		{"id bit", flip(8), false},
		{"checksum bit", flip(61), false},
		{"reserved bit", flip(40), false},
		{"other snapshot", other(9, 2, 3, 4), false},
		{"other seq", other(1, 9, 3, 4), false},
		{"other size", other(1, 2, 9, 4), false},
		{"other layout", other(1, 2, 3, 9), false},
	}
	for _, c := range cases {
		if err := checkHeader(c.b, req); (err == nil) != c.ok {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
