package walfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

const testDir = "/data/wal"

// testKey is the key of a segment file's first life.
var testKey = keyFor(freshEpoch)

// newMemFS returns a MemFS whose /data exists durably.
func newMemFS(t testing.TB) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMemFS()
	if err := m.MkdirAll("/data", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

// smallOpts are options with small segments and batches, so tests cross
// many segment boundaries.
func smallOpts(fs vfs.FS) Options {
	return Options{FS: fs, SegmentSize: 32 << 10, MaxBatch: 4 << 10}
}

// payloadFor is the payload of record seq in tests: its length varies from
// 0 to 47 bytes and its bytes depend on seq, so a record read back in the
// wrong place is caught.
func payloadFor(seq uint64, buf []byte) []byte {
	n := int(seq*7919) % 48
	p := buf[:n]
	for i := range p {
		p[i] = byte(seq>>(8*(i%8))) ^ byte(i*31)
	}
	if n >= 8 {
		binary.LittleEndian.PutUint64(p, seq)
	}
	return p
}

func typeFor(seq uint64) uint8 { return uint8(seq % 7) }

// appendSync appends n records, as appendN does, and waits until they are
// durable.
func appendSync(t testing.TB, l *Log, n int) {
	t.Helper()
	appendN(t, l, n)
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
}

// appendN appends n records, checking the sequences the log assigns.
func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	var buf [64]byte
	for range n {
		want := l.NextSeq()
		seq, err := l.Append(typeFor(want), payloadFor(want, buf[:]))
		if err != nil {
			t.Fatal(err)
		}
		if seq != want {
			t.Fatalf("Append returned sequence %d, want %d", seq, want)
		}
	}
}

// readAll reads every record from from on and checks each against the
// reference payload; it returns the last sequence read (from-1 if none) and
// the reader's final error (nil at io.EOF).
func readAll(fs vfs.FS, dir string, from uint64) (last uint64, err error) {
	r, err := NewReader(dir, Options{FS: fs}, from)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	var buf [64]byte
	last = from - 1
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return last, nil
		}
		if err != nil {
			return last, err
		}
		if rec.Seq != last+1 {
			return last, fmt.Errorf("reader returned sequence %d after %d", rec.Seq, last)
		}
		if want := payloadFor(rec.Seq, buf[:]); !bytes.Equal(rec.Payload, want) || rec.Type != typeFor(rec.Seq) {
			return last, fmt.Errorf("record %d: type %d payload %x, want type %d payload %x", rec.Seq, rec.Type, rec.Payload, typeFor(rec.Seq), want)
		}
		last = rec.Seq
	}
}

// snapshotFiles copies every file of dir but the lock file.
func snapshotFiles(t testing.TB, m *vfs.MemFS, dir string) map[string][]byte {
	t.Helper()
	names, err := m.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, n := range names {
		if n == lockName {
			continue
		}
		b, ok := m.Bytes(dir + "/" + n)
		if !ok {
			t.Fatalf("%s vanished", n)
		}
		out[n] = b
	}
	return out
}

// memFSWith builds a MemFS holding files in dir, all durable.
func memFSWith(t testing.TB, dir string, files map[string][]byte) *vfs.MemFS {
	t.Helper()
	m := newMemFS(t)
	if err := m.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range files {
		f, err := vfs.Create(m, dir+"/"+n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := m.SyncDir(dir); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/data"); err != nil {
		t.Fatal(err)
	}
	return m
}

func isCorrupt(err error) bool { return errors.Is(err, ErrCorrupt) }

// ageLog runs the log in testDir over opts until its current segment is a
// recycled file that has only just started and the recycle pool holds at
// least three more: rounds of appends, each synced, with TruncateBefore
// dropping every segment behind the writer whenever there are six, so that
// the pool fills and new segments reuse files holding records of earlier
// lives. It returns the first sequence left on disk.
func ageLog(t testing.TB, opts Options) (first uint64) {
	t.Helper()
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; ; round++ {
		if round > 100_000 {
			t.Fatal("no recycled segment after many rounds")
		}
		appendN(t, l, 20)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		segs, _, err := listSegments(opts.FS, testDir)
		if err != nil {
			t.Fatal(err)
		}
		if len(segs) >= 6 {
			if err := l.TruncateBefore(l.DurableSeq() + 1); err != nil {
				t.Fatal(err)
			}
			segs = segs[len(segs)-1:]
		}
		last := segs[len(segs)-1]
		h, err := readSegHeader(opts.FS, last)
		if err != nil {
			t.Fatal(err)
		}
		// Two reuses: the file then holds records of a life that was
		// itself recycled.
		if h.epoch > freshEpoch+1 && l.NextSeq()-last.first < 40 && l.Stats().RecyclePool >= 3 {
			first = segs[0].first
			break
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return first
}

// isRecycled reports whether the segment with the given name and bytes is
// in a recycled file.
func isRecycled(t testing.TB, name string, b []byte) bool {
	t.Helper()
	first, _ := parseSegmentName(name)
	h, err := checkSegHeader(b, segment{name: name, first: first})
	if err != nil {
		t.Fatal(err)
	}
	return h.recycled()
}
