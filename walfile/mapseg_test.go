package walfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// readThrough reads the log in dir from its first record with fs and returns
// copies of the payloads, the sequence of each, and how reading ended.
func readThrough(t *testing.T, dir string, fs vfs.FS) (payloads [][]byte, seqs []uint64, end error, torn *Damage) {
	t.Helper()
	r, err := NewReader(dir, Options{FS: fs}, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for {
		rec, err := r.Next()
		if err != nil {
			return payloads, seqs, err, r.TornTail()
		}
		payloads = append(payloads, bytes.Clone(rec.Payload))
		seqs = append(seqs, rec.Seq)
	}
}

// TestMappedReaderMatchesCopy reads a log of many segments on the real
// filesystem both ways a Reader can (mapping each segment, which it does on
// the operating system's filesystem, and reading it into a buffer, which it
// does on any other) and checks that they agree record for record, on a
// whole log, a torn tail and damage in the middle.
func TestMappedReaderMatchesCopy(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 64 << 10, Buffered: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := range n {
		p := bytes.Repeat([]byte{byte(i)}, 1+i%200)
		if _, err := l.Append(1, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	copyFS := vfs.Inject(vfs.OS, vfs.InjectorFunc(func(vfs.Op, string) error { return nil }))
	first := filepath.Join(dir, segmentName(1))
	if _, unmap, ok := mapSegment(vfs.OS, first); !ok {
		t.Fatal("the OS filesystem's segments are not mapped: the two ways are one")
	} else {
		unmap()
	}
	if _, _, ok := mapSegment(copyFS, first); ok {
		t.Fatal("a wrapped filesystem's segments are mapped")
	}
	compare := func(what string) (error, *Damage) {
		t.Helper()
		mp, ms, mend, mtorn := readThrough(t, dir, vfs.OS)
		cp, cs, cend, ctorn := readThrough(t, dir, copyFS)
		if len(mp) != len(cp) {
			t.Fatalf("%s: mapped reader read %d records, copying reader %d", what, len(mp), len(cp))
		}
		for i := range mp {
			if ms[i] != cs[i] || !bytes.Equal(mp[i], cp[i]) {
				t.Fatalf("%s: record %d differs: seq %d vs %d", what, i, ms[i], cs[i])
			}
		}
		if (mend == nil) != (cend == nil) || mend != nil && mend.Error() != cend.Error() {
			t.Fatalf("%s: mapped reader ended with %v, copying reader with %v", what, mend, cend)
		}
		if (mtorn == nil) != (ctorn == nil) || mtorn != nil && *mtorn != *ctorn {
			t.Fatalf("%s: torn tails %+v and %+v", what, mtorn, ctorn)
		}
		return mend, mtorn
	}
	if end, _ := compare("whole log"); end != io.EOF {
		t.Fatalf("whole log: %v", end)
	}
	_, seqs, _, _ := readThrough(t, dir, vfs.OS)
	if len(seqs) != n || seqs[0] != 1 || seqs[n-1] != n {
		t.Fatalf("read %d records, %v…", len(seqs), seqs[:min(3, len(seqs))])
	}
	segs, _, err := listSegments(vfs.OS, dir)
	if err != nil || len(segs) < 4 {
		t.Fatalf("%d segments, %v", len(segs), err)
	}
	flip := func(path string, off int64) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[off] ^= 0x10
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A torn tail: the last record of the last segment garbled.
	last := segs[len(segs)-1].path
	rep, _, err := scanLog(vfs.OS, dir, true)
	if err != nil {
		t.Fatal(err)
	}
	end := rep.Segments[len(rep.Segments)-1].End
	flip(last, end-3)
	if end, torn := compare("torn tail"); end != io.EOF || torn == nil {
		t.Fatalf("torn tail: %v, torn %v", end, torn)
	}
	// Damage in the middle of an earlier segment.
	flip(filepath.Join(dir, segs[1].name), 4096+100)
	if end, _ := compare("mid-log damage"); !errors.Is(end, ErrCorrupt) {
		t.Fatalf("mid-log damage: %v", end)
	}
}
