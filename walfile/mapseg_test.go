package walfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
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
	if _, unmap, ok := mapSegment(vfs.OS, first, false); !ok {
		t.Fatal("the OS filesystem's segments are not mapped: the two ways are one")
	} else {
		unmap()
	}
	if _, _, ok := mapSegment(copyFS, first, true); ok {
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
	rep, _, release, err := scanLog(vfs.OS, dir, true)
	release()
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

// TestMappedScanMatchesCopy checks the two ways Open and Inspect read a
// segment (a private mapping on the operating system's filesystem, a buffer
// on any other) against each other on the real filesystem: the same report
// for a whole log, a stray byte far after the end of the data, a torn tail
// and damage in the middle; and for the torn tail, the same cut by Open:
// the same bytes kept in the .broken file and the same segment afterwards.
func TestMappedScanMatchesCopy(t *testing.T) {
	dir := t.TempDir()
	opts := Options{SegmentSize: 128 << 10, Buffered: true}
	l, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := l.Append(1, bytes.Repeat([]byte{byte(i)}, 1+i%200)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	copyFS := vfs.Inject(vfs.OS, vfs.InjectorFunc(func(vfs.Op, string) error { return nil }))
	inspect := func(what string) *Report {
		t.Helper()
		m, err := Inspect(dir, Options{FS: vfs.OS})
		if err != nil {
			t.Fatal(err)
		}
		c, err := Inspect(dir, Options{FS: copyFS})
		if err != nil {
			t.Fatal(err)
		}
		if (m.Damage == nil) != (c.Damage == nil) || m.Damage != nil && (m.Damage.Err == nil) != (c.Damage.Err == nil) ||
			m.Damage != nil && m.Damage.Err != nil && m.Damage.Err.Error() != c.Damage.Err.Error() {
			t.Fatalf("%s: damage %+v mapped, %+v copied", what, m.Damage, c.Damage)
		}
		md, cd := m.Damage, c.Damage
		m.Damage, c.Damage = nil, nil
		if !reflect.DeepEqual(m, c) || md != nil && (md.Offset != cd.Offset || md.Bytes != cd.Bytes || md.Torn != cd.Torn || md.Seq != cd.Seq) {
			t.Fatalf("%s: reports differ\nmapped %+v %+v\ncopied %+v %+v", what, m, md, c, cd)
		}
		m.Damage = md
		return m
	}
	whole := inspect("whole log")
	if whole.Damage != nil || whole.Records != 3000 || len(whole.Segments) < 3 {
		t.Fatalf("whole log: %+v", whole)
	}
	lastSeg := whole.Segments[len(whole.Segments)-1]
	last := filepath.Join(dir, lastSeg.Name)
	pristine, err := os.ReadFile(last)
	if err != nil {
		t.Fatal(err)
	}
	patch := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(last, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stray := bytes.Clone(pristine)
	stray[len(stray)-5] = 1
	patch(stray)
	// In the last segment, with no valid record after it: a torn tail
	// that reaches the stray byte.
	if r := inspect("stray byte after the end"); r.Damage == nil || !r.Damage.Torn || r.Damage.Offset != lastSeg.End || r.Damage.Offset+r.Damage.Bytes != int64(len(stray)-4) {
		t.Fatalf("a stray byte far after the end: %+v", r.Damage)
	}
	torn := bytes.Clone(pristine)
	torn[lastSeg.End-3] ^= 0x10
	patch(torn)
	if r := inspect("torn tail"); r.Damage == nil || !r.Damage.Torn {
		t.Fatalf("torn tail: %+v", r.Damage)
	}
	// Open cuts the torn tail both ways, each in its own copy of the log.
	cut := func(fs vfs.FS) (rec Recovery, seg, broken []byte) {
		t.Helper()
		d := t.TempDir()
		for _, s := range whole.Segments {
			b, err := os.ReadFile(filepath.Join(dir, s.Name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(d, s.Name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		o := opts
		o.FS = fs
		l, err := Open(d, o)
		if err != nil {
			t.Fatal(err)
		}
		rec = l.Recovery()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if seg, err = os.ReadFile(filepath.Join(d, lastSeg.Name)); err != nil {
			t.Fatal(err)
		}
		if broken, err = os.ReadFile(filepath.Join(d, rec.Broken)); err != nil {
			t.Fatal(err)
		}
		return rec, seg, broken
	}
	mrec, mseg, mbroken := cut(vfs.OS)
	crec, cseg, cbroken := cut(copyFS)
	if mrec.TornTail == nil || crec.TornTail == nil || mrec.TornTail.Offset != crec.TornTail.Offset || mrec.TornTail.Bytes != crec.TornTail.Bytes {
		t.Fatalf("torn tails cut: mapped %+v, copied %+v", mrec.TornTail, crec.TornTail)
	}
	if !bytes.Equal(mbroken, cbroken) || !bytes.Equal(mbroken, torn[mrec.TornTail.Offset:mrec.TornTail.Offset+mrec.TornTail.Bytes]) {
		t.Fatal("the .broken copies differ, or do not hold the bytes cut")
	}
	if !bytes.Equal(mseg, cseg) {
		t.Fatal("the segment differs after the cut")
	}
	if !bytes.Equal(mseg[:mrec.TornTail.Offset], pristine[:mrec.TornTail.Offset]) || bytes.ContainsFunc(mseg[mrec.TornTail.Offset:mrec.TornTail.Offset+mrec.TornTail.Bytes], func(r rune) bool { return r != 0 }) {
		t.Fatal("the cut did not keep the records before it and zero the rest")
	}
	patch(pristine)
	// Damage in the middle of an earlier segment.
	b, err := os.ReadFile(filepath.Join(dir, whole.Segments[1].Name))
	if err != nil {
		t.Fatal(err)
	}
	b[4096+100] ^= 0x10
	if err := os.WriteFile(filepath.Join(dir, whole.Segments[1].Name), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := inspect("mid-log damage"); r.Damage == nil || r.Damage.Torn || !errors.Is(r.Damage.Err, ErrCorrupt) {
		t.Fatalf("mid-log damage: %+v", r.Damage)
	}
}
