package walfile

import (
	"encoding/binary"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

func TestRoundTripAcrossSegments(t *testing.T) {
	n, segSize, minSegs := 2_000_000, int64(256<<10), 100
	if testing.Short() || raceEnabled {
		// Under the race detector the writer keeps pace with the producer,
		// so batches are tiny and MemFS copies the whole segment on every
		// fdatasync: volume is for the plain run, concurrency for this one.
		// Smaller segments keep it crossing many boundaries.
		n, segSize, minSegs = 30_000, 32<<10, 10
	}
	m := newMemFS(t)
	opts := Options{FS: m, SegmentSize: segSize, MaxBatch: 64 << 10}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, n/2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, _, _ := listSegments(m, testDir)
	if len(segs) < minSegs {
		t.Fatalf("only %d segments: the test does not cross segment boundaries", len(segs))
	}
	// Reopen and continue.
	l, err = Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := l.NextSeq(); got != uint64(n/2)+1 {
		t.Fatalf("after reopen NextSeq = %d, want %d", got, n/2+1)
	}
	if l.Recovery().TornTail != nil {
		t.Fatalf("clean log reported a torn tail: %+v", l.Recovery().TornTail)
	}
	appendSync(t, l, n-n/2)
	if got := l.DurableSeq(); got != uint64(n) {
		t.Fatalf("DurableSeq = %d, want %d", got, n)
	}
	// A reader of the open log sees everything durable.
	r, err := l.NewReader(uint64(n) - 5)
	if err != nil {
		t.Fatal(err)
	}
	for want := uint64(n) - 5; want <= uint64(n); want++ {
		rec, err := r.Next()
		if err != nil || rec.Seq != want {
			t.Fatalf("live reader: %v, %v; want sequence %d", rec.Seq, err, want)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("live reader past the durable end: %v, want io.EOF", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	last, err := readAll(m, testDir, 1)
	if err != nil || last != uint64(n) {
		t.Fatalf("read back to %d, %v; want %d", last, err, n)
	}
	// Reading from the middle.
	last, err = readAll(m, testDir, uint64(n)/3)
	if err != nil || last != uint64(n) {
		t.Fatalf("read from %d: to %d, %v", n/3, last, err)
	}
	if err := Verify(testDir, Options{FS: m}); err != nil {
		t.Fatal(err)
	}
	names, _ := m.ReadDir(testDir)
	for _, nm := range names {
		// A prepared segment stays for the next Open.
		if _, ok := parseSegmentName(nm); !ok && nm != lockName && !isPipelineTmp(nm) {
			t.Errorf("stray file %s after Close", nm)
		}
	}
}

func TestAppendSeqAndErrors(t *testing.T) {
	m := newMemFS(t)
	l, err := Open(testDir, Options{FS: m, SegmentSize: 16 << 10, MaxBatch: 4 << 10, FirstSeq: 100})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.AppendSeq(101, 1, nil); !errors.Is(err, ErrSequence) {
		t.Fatalf("AppendSeq(101) on a log starting at 100: %v", err)
	}
	if err := l.AppendSeq(100, 1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(1, make([]byte, 5000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("record over MaxBatch: %v", err)
	}
	if err := l.WaitDurable(100); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(1, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := l.WaitDurable(101); !errors.Is(err, ErrClosed) {
		t.Fatalf("WaitDurable of an unwritten sequence after Close: %v", err)
	}
	if _, err := NewReader(testDir, Options{FS: m}, 50); !errors.Is(err, ErrSequence) {
		t.Fatalf("reader before the first sequence: %v", err)
	}
}

func TestTruncateBefore(t *testing.T) {
	m := newMemFS(t)
	opts := smallOpts(m)
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSync(t, l, 5000)
	segs, _, _ := listSegments(m, testDir)
	if len(segs) < 4 {
		t.Fatalf("%d segments", len(segs))
	}
	if err := l.TruncateBefore(6000); !errors.Is(err, ErrSequence) {
		t.Fatalf("truncate beyond durable: %v", err)
	}
	cut := segs[2].first + 1 // inside segment 2: segments 0 and 1 go
	if err := l.TruncateBefore(cut); err != nil {
		t.Fatal(err)
	}
	after, _, _ := listSegments(m, testDir)
	if len(after) != len(segs)-2 || after[0].first != segs[2].first {
		t.Fatalf("after TruncateBefore(%d): first segment %d, %d segments; want %d, %d", cut, after[0].first, len(after), segs[2].first, len(segs)-2)
	}
	if err := l.TruncateBefore(l.DurableSeq() + 1); err != nil {
		t.Fatal(err)
	}
	after, _, _ = listSegments(m, testDir)
	if len(after) != 1 {
		t.Fatalf("the active segment must stay alone, have %d", len(after))
	}
	appendN(t, l, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	last, err := readAll(m, testDir, after[0].first)
	if err != nil || last != 5010 {
		t.Fatalf("read after truncation: %d, %v", last, err)
	}
	// Removal must be durable.
	c := m.Crash(vfs.CrashOptions{})
	segsC, _, _ := listSegments(c, testDir)
	if len(segsC) != 1 {
		t.Fatalf("after crash %d segments, want 1", len(segsC))
	}
}

func TestAppendDoesNotAllocate(t *testing.T) {
	m := newMemFS(t)
	l, err := Open(testDir, Options{FS: m, SegmentSize: 64 << 20, MaxBatch: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := make([]byte, 64)
	allocs := testing.AllocsPerRun(10000, func() {
		if _, err := l.Append(1, p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Append allocates %.2f times per call", allocs)
	}
}

func TestReopenKeepsBlockSize(t *testing.T) {
	m := newMemFS(t)
	l, err := Open(testDir, Options{FS: m, BlockSize: 8192, SegmentSize: 64 << 10, MaxBatch: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 700)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(testDir, Options{FS: m, SegmentSize: 64 << 10, MaxBatch: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 2000)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(testDir, Options{FS: m})
	if err != nil || r.Damage != nil || r.LastSeq != 2700 {
		t.Fatalf("inspect: %v %+v", err, r)
	}
	for _, s := range r.Segments {
		if s.BlockSize != 8192 {
			t.Fatalf("segment %s has block size %d", s.Name, s.BlockSize)
		}
	}
	if last, err := readAll(m, testDir, 1); err != nil || last != 2700 {
		t.Fatalf("read back %d, %v", last, err)
	}
}

func TestDurableNotifications(t *testing.T) {
	m := newMemFS(t)
	var seen []uint64 // written by the writer goroutine only
	opts := smallOpts(m)
	opts.OnDurable = func(seq uint64) { seen = append(seen, seq) }
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	// One goroutine appends and learns durability only from the channel.
	const n = 3000
	var buf [64]byte
	sent := uint64(0)
	for sent < n || l.DurableSeq() < n {
		if sent < n {
			seq, err := l.Append(typeFor(sent+1), payloadFor(sent+1, buf[:]))
			if err != nil {
				t.Fatal(err)
			}
			sent = seq
			continue
		}
		<-l.Durable()
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(seen) == 0 || seen[len(seen)-1] != n {
		t.Fatalf("OnDurable saw %d calls ending at %v", len(seen), seen[max(0, len(seen)-1):])
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] <= seen[i-1] {
			t.Fatalf("OnDurable went from %d to %d", seen[i-1], seen[i])
		}
	}
}

func TestPinWriter(t *testing.T) {
	m := newMemFS(t)
	opts := smallOpts(m)
	refused := errors.New("refused")
	opts.PinWriter = func() (func() error, error) { return nil, refused }
	if _, err := Open(testDir, opts); !errors.Is(err, refused) {
		t.Fatalf("Open with a refused pin: %v", err)
	}
	// PinWriter is called on each I/O worker, and each release once.
	var pinned, released atomic.Int32
	opts.PinWriter = func() (func() error, error) {
		pinned.Add(1)
		return func() error { released.Add(1); return nil }, nil
	}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, l, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if p, r := pinned.Load(), released.Load(); p != ioWorkers || r != p {
		t.Fatalf("PinWriter called %d times, released %d times; want %d each", p, r, ioWorkers)
	}
}

func TestSecondWriterIsLockedOut(t *testing.T) {
	dir := t.TempDir()
	l, err := Open(dir, Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{SegmentSize: 1 << 20}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of a log in use: %v, want ErrLocked", err)
	}
	if _, err := Repair(dir, Options{}, true); !errors.Is(err, ErrLocked) {
		t.Fatalf("Repair of a log in use: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err = Open(dir, Options{SegmentSize: 1 << 20})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	l.Close()
}

// TestConcurrentAppenders has several goroutines append and wait at once,
// with batches small enough that they often wait for buffer space: every
// record is read back once, in each goroutine's order, under contiguous
// sequences.
func TestConcurrentAppenders(t *testing.T) {
	m := newMemFS(t)
	l, err := Open(testDir, Options{FS: m, SegmentSize: 16 << 10, MaxBatch: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 4, 1500
	errc := make(chan error, writers)
	for w := range writers {
		go func() {
			var p [16]byte
			for i := range each {
				binary.LittleEndian.PutUint64(p[:], uint64(w))
				binary.LittleEndian.PutUint64(p[8:], uint64(i))
				seq, err := l.Append(uint8(w), p[:])
				if err == nil && i%100 == 0 {
					err = l.WaitDurable(seq)
				}
				if err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	for range writers {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := NewReader(testDir, Options{FS: m}, 1)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]uint64, writers)
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
		if rec.Seq != uint64(n) {
			t.Fatalf("record %d has sequence %d", n, rec.Seq)
		}
		w := binary.LittleEndian.Uint64(rec.Payload)
		i := binary.LittleEndian.Uint64(rec.Payload[8:])
		if w >= writers || uint8(w) != rec.Type || i != next[w] {
			t.Fatalf("record %d: writer %d item %d, want item %d", rec.Seq, w, i, next[min(w, writers-1)])
		}
		next[w]++
	}
	if n != writers*each {
		t.Fatalf("read %d records, want %d", n, writers*each)
	}
}

func TestLiveReaderStopsAtDurable(t *testing.T) {
	m := newMemFS(t)
	l, err := Open(testDir, smallOpts(m))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reader of an empty log: %v", err)
	}
	appendSync(t, l, 10)
	if r, err = l.NewReader(11); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("reader from the next sequence: %v", err)
	}
	if r, err = l.NewReader(3); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil || rec.Seq != uint64(3+n) {
			t.Fatalf("record %d: %v %v", n, rec.Seq, err)
		}
		n++
	}
	if n != 8 {
		t.Fatalf("read %d records from 3 to 10", n)
	}
}

// TestAfterWriteHook: the hook runs once a batch's write has returned and
// before any fdatasync covers it. While it blocks, the record is in the file
// but not durable (a crash then loses it), and the durable sequence does
// not move.
func TestAfterWriteHook(t *testing.T) {
	m := newMemFS(t)
	var armed atomic.Bool
	entered, release := make(chan struct{}), make(chan struct{})
	opts := smallOpts(m)
	opts.AfterWrite = func() {
		if armed.CompareAndSwap(true, false) {
			entered <- struct{}{}
			<-release
		}
	}
	l, err := Open(testDir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendSync(t, l, 10)
	armed.Store(true)
	appendN(t, l, 1)
	<-entered
	seg, _ := m.Bytes(testDir + "/" + segmentName(1))
	recs := spans(t, segmentName(1), seg)
	if len(recs) != 11 {
		t.Fatalf("in the hook the segment holds %d records, want the 11th written", len(recs))
	}
	time.Sleep(20 * time.Millisecond)
	if d := l.DurableSeq(); d != 10 {
		t.Fatalf("durable sequence %d while the hook holds the write of 11", d)
	}
	c := m.Crash(vfs.CrashOptions{})
	if last, err := readAll(c, testDir, 1); err != nil || last != 10 {
		t.Fatalf("a crash in the hook keeps records to %d (%v), want 10: nothing unsynced survives", last, err)
	}
	close(release)
	if err := l.WaitDurable(11); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}
