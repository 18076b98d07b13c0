package walfile

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

// Log is an open write-ahead log. Append, AppendSeq, DurableSeq,
// WaitDurable, Sync, Durable, TruncateBefore and NewReader are safe for
// concurrent use; the node calls Append from its one engine goroutine and
// learns durability through Durable and DurableSeq.
//
// Sequences are assigned by the log: each Append gets the previous one plus
// one, and NextSeq says which sequence the next Append will get. The node's
// sequencer uses the log's sequence as the command's sequence; AppendSeq
// lets a caller that assigns sequences itself have the log check that they
// agree.
type Log struct {
	opts Options
	dir  string
	fs   vfs.FS
	bs   int

	mu      sync.Mutex
	work    sync.Cond // idle I/O workers wait for records to write or sync
	space   sync.Cond // appenders wait for buffer space
	durc    sync.Cond // WaitDurable waits for the durable sequence
	drained sync.Cond // a worker waits for every written record to be synced
	fill    *batch    // where appenders encode records
	free    []*batch  // buffers nobody uses
	sealed  []*batch  // sealed batches waiting to be written, in order
	next    uint64    // sequence of the next Append
	closing bool
	closed  bool
	err     error // sticky failure, wraps ErrFailed
	maxRec  int   // largest record size Append takes
	sealAt  int   // new bytes in the fill buffer that make it worth sealing while a write runs

	// The I/O pipeline (see run), under mu.
	idle      int    // workers waiting on work
	drainers  int    // workers waiting on drained
	sealing   bool   // a worker is sealing a batch
	writing   bool   // a worker is writing a batch
	syncing   bool   // a worker is in fdatasync (or publishing its result)
	writtenSq uint64 // last sequence whose write has returned
	synced    uint64 // last sequence made durable (durable's value)
	workers   sync.WaitGroup

	durable   atomic.Uint64
	lastWrite atomic.Int64 // when the last batch was written, since epoch
	epoch     time.Time
	notify    chan struct{}
	batches   atomic.Uint64 // writes of batches
	recycled  atomic.Uint64 // segments installed from the recycle pool
	switches  atomic.Uint64 // segments installed by the writer
	sealNs    atomic.Int64  // time spent sealing, writing and in fdatasync
	writeNs   atomic.Int64
	syncNs    atomic.Int64
	syncs     atomic.Uint64 // fdatasyncs that made records durable
	written   atomic.Uint64 // bytes written by batches

	truncMu sync.Mutex
	lock    vfs.File // dir/LOCK, flocked while the log is open
	mem     *ioMemory

	// Owned by the worker holding the writing role (and by Open before
	// the workers start); seg changes only while nothing is unsynced.
	seg      vfs.File
	segName  string
	pipe     *pipeline
	hdr      []byte
	done     chan struct{}
	recovery Recovery
}

// batch is one write buffer: the bytes of one group commit.
type batch struct {
	buf      []byte // aligned; len MaxBatch + 2 blocks
	base     int64  // file offset of buf[0], block-aligned
	n        int    // bytes used
	carried  int    // leading bytes already written by the previous batch
	first    uint64 // sequence of the first new record; 0 when none
	last     uint64 // sequence of the last record
	segFirst uint64 // first sequence of the segment the bytes belong to
	segCap   int64  // size of that segment
	key      segKey // the key that segment's records are sealed with
	newSeg   bool   // the writer must create segment segFirst first
	// next is the prepared file a batch with newSeg is written to, taken
	// by the sealer (the records' checksums depend on the file's epoch);
	// nil until then and once the writer has installed it.
	next *prepared
	// carrying is set while the worker that took the previous buffer has
	// yet to copy its sealed last block into buf[:carried]; appenders then
	// may not restart the buffer at a new segment.
	carrying bool
}

// Recovery is what Open found and did.
type Recovery struct {
	// TornTail is the torn tail Open cut, nil if the log ended cleanly.
	TornTail *Damage
	// Broken is the file holding a copy of the bytes cut.
	Broken string
}

// Open opens the log in dir, creating dir and a first segment if needed.
// It checks every segment header and reads the last segment; a torn tail
// is cut back to the last whole record (a copy of the cut bytes is kept in a
// .broken file) and the cut made durable before Open returns. Corruption is
// an ErrCorrupt error and changes nothing; Repair with force is the way past
// it. Records in earlier segments are checked by the Reader as they are read,
// and all of them by Verify.
func Open(dir string, opts Options) (*Log, error) {
	opts, err := opts.EnsureDefaults()
	if err != nil {
		return nil, err
	}
	fs := opts.FS
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := fs.SyncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	lock, err := acquireLock(fs, dir)
	if err != nil {
		return nil, err
	}
	l, err := open(dir, opts, lock)
	if err != nil {
		lock.Close()
		return nil, err
	}
	return l, nil
}

// lockName is the file Open and Repair lock; it holds nothing.
const lockName = "LOCK"

// acquireLock opens and locks dir/LOCK.
func acquireLock(fs vfs.FS, dir string) (vfs.File, error) {
	f, err := fs.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func open(dir string, opts Options, lock vfs.File) (*Log, error) {
	fs := opts.FS
	_, tmps, err := listSegments(fs, dir)
	if err != nil {
		return nil, err
	}
	pool, err := listRecycled(fs, dir)
	if err != nil {
		return nil, err
	}
	if keep := max(opts.RecycleSegments, 0); len(pool) > keep {
		for _, p := range pool[keep:] {
			if err := fs.Remove(p); err != nil {
				return nil, err
			}
		}
		pool = pool[:keep]
	}
	// A segment the pipeline prepared before the log was last closed (or
	// its process died) is as good as a new one once it has its full
	// size: it was created empty and only ever written with zeros. Reusing
	// it spares a restart writing a segment of zeros while it replays.
	// Others (cut short, or of another size) are removed, and so is every
	// one when the recycle pool has files, which the pipeline takes first.
	var leftovers []string
	for _, t := range tmps {
		path := filepath.Join(dir, t)
		if isPipelineTmp(t) && len(pool) == 0 && len(leftovers) < opts.PreparedSegments {
			if size, isDir, err := fs.Stat(path); err == nil && !isDir && size == opts.SegmentSize {
				leftovers = append(leftovers, path)
				continue
			}
		}
		if err := fs.Remove(path); err != nil {
			return nil, err
		}
	}
	l := &Log{
		opts:   opts,
		dir:    dir,
		fs:     fs,
		lock:   lock,
		bs:     opts.BlockSize,
		notify: make(chan struct{}, 1),
		done:   make(chan struct{}),
		epoch:  time.Now(),
		hdr:    vfs.AlignedBuffer(opts.BlockSize),
	}
	l.work.L, l.space.L, l.durc.L, l.drained.L = &l.mu, &l.mu, &l.mu, &l.mu
	l.maxRec = int(min(int64(opts.MaxBatch), opts.SegmentSize-int64(opts.BlockSize)))
	l.sealAt = opts.MaxBatch / 2
	l.mem = &ioMemory{}
	l.fill = &batch{}
	for range ioBuffers - 1 {
		l.free = append(l.free, &batch{})
	}
	err = l.allocBuffers(opts.MaxBatch + 2*opts.BlockSize)
	if err == nil {
		err = l.openTail(&pool)
	}
	if err != nil {
		if l.seg != nil {
			l.seg.Close()
		}
		l.mem.free()
		return nil, err
	}
	// Close releases the buffers; this is for a log that is dropped
	// without Close (its workers have stopped after a failure).
	runtime.AddCleanup(l, (*ioMemory).free, l.mem)
	l.pipe = startPipeline(fs, dir, opts.SegmentSize, opts.directFlag(), opts.PreparedSegments, l.busy, pool, opts.RecycleSegments, leftovers...)
	l.writtenSq = l.durable.Load()
	l.synced = l.writtenSq
	started := make(chan error, ioWorkers)
	l.workers.Add(ioWorkers)
	for range ioWorkers {
		go l.run(started)
	}
	var perr error
	for range ioWorkers {
		if err := <-started; err != nil && perr == nil {
			perr = err
		}
	}
	go func() {
		l.workers.Wait()
		close(l.done)
	}()
	if perr != nil {
		l.mu.Lock()
		l.closing = true
		l.work.Broadcast()
		l.mu.Unlock()
		<-l.done
		l.pipe.stop()
		l.seg.Close()
		l.mem.free()
		return nil, fmt.Errorf("walfile: pin the writer: %w", perr)
	}
	return l, nil
}

// openTail finds (or creates) the segment to append to, cuts a torn tail,
// and loads the partly written last block into the fill buffer. A first
// segment may take a file from the recycle pool.
func (l *Log) openTail(pool *[]string) error {
	r, buf, release, err := scanLog(l.fs, l.dir, false)
	defer release()
	if err != nil {
		return err
	}
	if len(r.Segments) == 0 {
		return l.createFirst(pool)
	}
	if d := r.Damage; d != nil {
		if !d.Torn {
			return d.Err
		}
		broken, err := cutTail(l.fs, l.dir, d, buf)
		if err != nil {
			return err
		}
		l.recovery = Recovery{TornTail: d, Broken: broken}
	}
	last := r.Segments[len(r.Segments)-1]
	if last.BlockSize != l.bs {
		// Keep writing in the unit the log was created with.
		if l.opts.SegmentSize%int64(last.BlockSize) != 0 {
			return fmt.Errorf("walfile: SegmentSize %d is not a multiple of the log's block size %d", l.opts.SegmentSize, last.BlockSize)
		}
		l.bs = last.BlockSize
		l.maxRec = int(min(int64(l.opts.MaxBatch), l.opts.SegmentSize-int64(l.bs)))
		l.hdr = vfs.AlignedBuffer(l.bs)
		l.mem.free()
		if err := l.allocBuffers(l.opts.MaxBatch + 2*l.bs); err != nil {
			return err
		}
	}
	path := filepath.Join(l.dir, last.Name)
	f, err := l.fs.OpenFile(path, os.O_RDWR|l.opts.directFlag(), 0)
	if err != nil {
		return err
	}
	l.seg, l.segName = f, last.Name
	// A segment cut short (not by this package: segments never change
	// size) ends at its last whole block; the next record that does not fit
	// starts a new segment.
	segCap := r.Segments[len(r.Segments)-1].Size / int64(l.bs) * int64(l.bs)
	// Records a previous process wrote may still be only in the page cache
	// (buffered mode, or a write whose fdatasync failed): make them durable
	// before reporting them durable.
	if err := f.Datasync(); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	end := last.End
	whole := end / int64(l.bs) * int64(l.bs)
	f0 := l.fill
	f0.base, f0.n = whole, int(end-whole)
	f0.carried = f0.n
	copy(f0.buf, buf[whole:end])
	f0.segFirst, f0.segCap = last.FirstSeq, segCap
	f0.key = keyFor(last.Epoch)
	l.next = last.LastSeq + 1
	l.durable.Store(last.LastSeq)
	return nil
}

// createFirst creates the first segment of an empty log, from a file of
// the recycle pool if one is usable.
func (l *Log) createFirst(pool *[]string) error {
	first := l.opts.FirstSeq
	var x prepared
	for len(*pool) > 0 && x.f == nil {
		path := (*pool)[0]
		*pool = (*pool)[1:]
		f, epoch, err := openRecycled(l.fs, path, l.opts.SegmentSize, l.opts.directFlag())
		if err != nil {
			if err := l.fs.Remove(path); err != nil {
				return err
			}
			continue
		}
		x = prepared{f: f, path: path, epoch: epoch, recycled: true}
	}
	if x.f == nil {
		tmp := filepath.Join(l.dir, "prealloc-first"+tmpExt)
		f, err := prepareSegment(l.fs, tmp, l.opts.SegmentSize, l.opts.directFlag(), vfs.AlignedBuffer(int(min(l.opts.SegmentSize, 1<<20))), nil, nil)
		if err != nil {
			return err
		}
		x = prepared{f: f, path: tmp, epoch: freshEpoch}
	}
	l.seg = x.f
	if err := l.installSegment(x.f, x.path, first, x.epoch); err != nil {
		return err
	}
	if x.recycled {
		l.recycled.Add(1)
	}
	f0 := l.fill
	f0.base, f0.n, f0.carried = int64(l.bs), 0, 0
	f0.segFirst, f0.segCap = first, l.opts.SegmentSize
	f0.key = keyFor(x.epoch)
	l.next = first
	l.durable.Store(first - 1)
	return nil
}

// installSegment makes the prepared file f (at tmp, a temporary or pool
// name) the segment starting at first, in the life epoch: header written
// and fdatasynced, renamed, directory fsynced. Only then may records be
// written to it. For a recycled file the fdatasync is cheap: the file is
// fully written, so only its data changed.
func (l *Log) installSegment(f vfs.File, tmp string, first, epoch uint64) error {
	encodeSegHeader(l.hdr, l.bs, first, epoch)
	if _, err := f.WriteAt(l.hdr, 0); err != nil {
		return err
	}
	if err := f.Datasync(); err != nil {
		return err
	}
	name := segmentName(first)
	if err := l.fs.Rename(tmp, filepath.Join(l.dir, name)); err != nil {
		return err
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	l.segName = name
	return nil
}

// allocBuffers gives the fill buffer and the free ones n bytes each.
func (l *Log) allocBuffers(n int) error {
	for _, b := range append([]*batch{l.fill}, l.free...) {
		buf, err := l.mem.buffer(n)
		if err != nil {
			return err
		}
		b.buf = buf
	}
	return nil
}

// ioMemory owns the memory of the log's write buffers. Buffers of at least
// hugeBufferMin bytes live outside the Go heap, in huge pages
// (vfs.HugeBuffer: an O_DIRECT write from them costs the kernel half the CPU
// and the disk gives more bandwidth), and are unmapped by free.
type ioMemory struct {
	mu      sync.Mutex // free may run from a cleanup, after Close
	release []func()
}

// hugeBufferMin is the smallest write buffer put in huge pages: below half a
// huge page the memory it would waste outweighs the few pages a write pins.
const hugeBufferMin = 1 << 20

// buffer returns an O_DIRECT-aligned, zeroed buffer of n bytes.
func (m *ioMemory) buffer(n int) ([]byte, error) {
	if n < hugeBufferMin {
		return vfs.AlignedBuffer(n), nil
	}
	b, release, err := vfs.HugeBuffer(n)
	if err != nil {
		return nil, fmt.Errorf("walfile: write buffer: %w", err)
	}
	m.mu.Lock()
	m.release = append(m.release, release)
	m.mu.Unlock()
	return b, nil
}

// free unmaps every buffer buffer returned. Nothing may touch them after.
func (m *ioMemory) free() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.release {
		r()
	}
	m.release = nil
}

// Recovery returns what Open found and did.
func (l *Log) Recovery() Recovery { return l.recovery }

// Dir returns the log's directory.
func (l *Log) Dir() string { return l.dir }

// Append adds a record and returns its sequence. It does not wait for the
// disk: the record is durable once DurableSeq reaches the sequence. It waits
// only when a whole MaxBatch of records is already waiting for the writer
// (back-pressure) or, once per segment, for the previous segment's last
// batch to be taken. It does not allocate. The payload is copied.
func (l *Log) Append(typ uint8, payload []byte) (uint64, error) {
	return l.append(0, typ, payload)
}

// AppendSeq is Append for a caller that assigns sequences itself: it fails
// with ErrSequence, appending nothing, unless seq is NextSeq.
func (l *Log) AppendSeq(seq uint64, typ uint8, payload []byte) error {
	if seq == 0 {
		return fmt.Errorf("%w: 0", ErrSequence)
	}
	_, err := l.append(seq, typ, payload)
	return err
}

func (l *Log) append(want uint64, typ uint8, payload []byte) (uint64, error) {
	size := recordSize(len(payload))
	if size > l.maxRec || len(payload) > 1<<31 {
		return 0, errTooLarge(len(payload))
	}
	if !l.mu.TryLock() {
		l.lockAppend()
	}
	f := l.fill
	if l.err != nil || l.closing || f.base+int64(f.n+size) > f.segCap || f.n-f.carried+size > l.opts.MaxBatch {
		var err error
		if f, err = l.makeRoom(size); err != nil {
			l.mu.Unlock()
			return 0, err
		}
	}
	seq := l.next
	if want != 0 && want != seq {
		l.mu.Unlock()
		return 0, errSequence(want, seq)
	}
	had, at := f.n-f.carried, f.n
	f.n += encodeBody(f.buf[f.n:], seq, typ, payload)
	f.last = seq
	l.next = seq + 1
	var ahead *byte
	if f.n/prefetchSpan != at/prefetchSpan && havePrefetchW {
		// The record crossed into a new span: ask for the one
		// prefetchAhead bytes on, so that its lines are this core's by
		// the time records are written there.
		if p := f.n&^(prefetchSpan-1) + prefetchAhead; p+prefetchSpan <= len(f.buf) {
			ahead = &f.buf[p]
		}
	}
	if f.first == 0 || had < l.sealAt && f.n-f.carried >= l.sealAt {
		l.wakeFor(f, seq)
	}
	l.mu.Unlock()
	if ahead != nil {
		prefetchWrite(ahead)
	}
	return seq, nil
}

// Append asks for the write buffer's lines ahead of the records it
// writes: prefetchSpan bytes (prefetchWrite's eight lines) each time a
// record enters a new span, prefetchAhead bytes past it. A write buffer's
// lines were last touched by other cores: the sealer rewrote a field of
// every record and the device read them. Without the prefetch, a store to
// such a line waits for another core's copy to be given up, and the
// locked instructions of the next Append wait for that store; on this
// machine Append then took 40–80 ns instead of 16–25 in some runs
// (BENCHMARKS.md, ## walfile).
const (
	prefetchSpan  = 512
	prefetchAhead = 4096
)

// wakeFor wakes an idle I/O worker, with mu held, when the record seq
// makes the fill buffer f worth taking: it is the batch's first record
// (the worker takes the records appended meanwhile with it), or it brings
// the batch to sealAt new bytes, big enough to seal while a write runs
// (canSeal). It and Append's error constructors are kept out of Append's
// body: inlined there, their calls gave every append a large stack frame
// and spilled registers (BENCHMARKS.md, ## walfile).
//
//go:noinline
func (l *Log) wakeFor(f *batch, seq uint64) {
	if f.first == 0 {
		f.first = seq
	}
	if l.idle > 0 {
		l.work.Signal()
	}
}

// errTooLarge and errSequence build Append's errors out of its body.
//
//go:noinline
func errTooLarge(n int) error { return fmt.Errorf("%w: %d bytes", ErrTooLarge, n) }

//go:noinline
func errSequence(got, next uint64) error {
	return fmt.Errorf("%w: got %d, next is %d", ErrSequence, got, next)
}

// lockAppend takes mu for an append that found it held (append tries once
// itself). The I/O workers hold mu only for short moments (taking a role,
// handing over a buffer, publishing a result), so it tries again for a few
// microseconds before it waits the way sync.Mutex does: parked, an appender
// pays a thread wake-up (tens of µs on a VM) for a lock held for less than
// one, and a saturating appender that meets the workers a few times per
// batch then falls into small batches (BENCHMARKS.md, ## walfile).
func (l *Log) lockAppend() {
	x := uint32(1)
	for i := 0; i < appendSpins; i++ {
		// A pause between tries, so that the line holding mu is not
		// pulled away from its holder on every spin.
		for j := 0; j < 32; j++ {
			x = x*1664525 + 1013904223
		}
		if x == 0 { // never: keeps the pause from being optimised away
			runtime.Gosched()
		}
		if l.mu.TryLock() {
			return
		}
	}
	l.mu.Lock()
}

// appendSpins is how many times lockAppend tries mu before it waits.
const appendSpins = 200

// makeRoom is Append's slow path, with mu held: it waits until the fill
// buffer can take a record of size bytes, starting a new segment in it if
// the current one is full, and returns it.
func (l *Log) makeRoom(size int) (*batch, error) {
	for {
		if l.err != nil {
			return nil, l.err
		}
		if l.closing {
			return nil, ErrClosed
		}
		f := l.fill
		if f.base+int64(f.n+size) > f.segCap {
			if f.first != 0 || f.carrying {
				// The segment's last batch is still waiting for a
				// worker, or its last block is being carried into this
				// buffer; the next record goes into a new segment, which
				// needs the buffer to itself.
				l.space.Wait()
				continue
			}
			f.base, f.n, f.carried = int64(l.bs), 0, 0
			f.segFirst, f.segCap, f.newSeg = l.next, l.opts.SegmentSize, true
		}
		if f.n-f.carried+size > l.opts.MaxBatch {
			l.space.Wait()
			continue
		}
		return f, nil
	}
}

// NextSeq returns the sequence the next Append will get.
func (l *Log) NextSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.next
}

// DurableSeq returns the highest sequence known durable: every record up to
// it has been written and fdatasynced.
func (l *Log) DurableSeq() uint64 { return l.durable.Load() }

// Durable returns a channel that receives a value after DurableSeq advances,
// after the log fails and after Close. It holds at most one pending value, so
// one goroutine can learn durability without a goroutine or a channel per
// record: on receive, read DurableSeq (and Err).
func (l *Log) Durable() <-chan struct{} { return l.notify }

// Stats counts what the log wrote since Open.
type Stats struct {
	// Batches is the number of batches written (one pwrite each).
	Batches uint64
	// Syncs is the number of fdatasyncs that made records durable; one
	// covers every batch written before it began, so Syncs ≤ Batches.
	Syncs uint64
	// WrittenBytes is the bytes written by them, whole blocks, rewritten
	// partial blocks counted each time.
	WrittenBytes uint64
	// SegmentsReady is the number of segments the file pipeline holds
	// ready for the next segment switches; below Options.PreparedSegments
	// it is preparing one (writing zeros, unless the recycle pool has a
	// file).
	SegmentsReady int
	// SegmentsRecycled is the number of segments installed in a file from
	// the recycle pool rather than a zero-filled one.
	SegmentsRecycled uint64
	// RecyclePool is the number of files in the recycle pool now.
	RecyclePool int
	// SegmentSwitches is the number of segments the log moved to.
	SegmentSwitches uint64
	// SealTime, WriteTime and SyncTime are the time the I/O workers spent
	// in each role (checksumming batches; their pwrites, segment switches
	// included; fdatasyncs). Divided by the elapsed time they say which
	// stage bounds the log: each role is held by one worker at a time.
	SealTime, WriteTime, SyncTime time.Duration
}

// Stats returns what the log wrote since Open.
func (l *Log) Stats() Stats {
	return Stats{Batches: l.batches.Load(), Syncs: l.syncs.Load(), WrittenBytes: l.written.Load(),
		SegmentsReady: int(l.pipe.ready.Load()), SegmentsRecycled: l.recycled.Load(), RecyclePool: l.pipe.poolLen(),
		SegmentSwitches: l.switches.Load(), SealTime: time.Duration(l.sealNs.Load()),
		WriteTime: time.Duration(l.writeNs.Load()), SyncTime: time.Duration(l.syncNs.Load())}
}

// Err returns the failure that made the log unusable (wrapping ErrFailed),
// or nil.
func (l *Log) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// WaitDurable waits until the record with sequence seq is durable. It
// returns ErrFailed (wrapped) if the log failed first and ErrClosed if the
// log was closed without seq becoming durable.
func (l *Log) WaitDurable(seq uint64) error {
	if l.durable.Load() >= seq {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.durable.Load() < seq {
		if l.err != nil {
			return l.err
		}
		if l.closed || (l.closing && seq >= l.next) {
			return ErrClosed
		}
		l.durc.Wait()
	}
	return nil
}

// Sync waits until every record appended so far is durable.
func (l *Log) Sync() error {
	l.mu.Lock()
	last := l.next - 1
	l.mu.Unlock()
	return l.WaitDurable(last)
}

// busyWindow is how recently the log must have written a batch to count as
// busy for the file pipeline (see pipeline.yield).
const busyWindow = 2 * time.Millisecond

// busy reports whether the log wrote a batch within busyWindow.
func (l *Log) busy() bool {
	return time.Since(l.epoch)-time.Duration(l.lastWrite.Load()) < busyWindow
}

// ioWorkers is the number of I/O worker goroutines, one per role; ioBuffers
// the number of write buffers: one filling, one being sealed, one being
// written.
const (
	ioWorkers = 3
	ioBuffers = 3
)

// run is one of the log's I/O workers. The work is three roles, each held by
// at most one worker at a time, done in order for each batch:
//
//   - sealing: take the fill buffer (handing appenders a free one that starts
//     with its last, partly filled block), set the batch fields and
//     checksums of its records, and queue it;
//   - writing: write the oldest sealed batch with one pwrite;
//   - syncing: one fdatasync of the segment, then publish as durable every
//     record whose write had returned before that fdatasync began.
//
// A worker takes whichever role is free and has work, syncing first, then
// writing, then sealing. With records arriving slowly one worker seals,
// writes and syncs a record with no hand-over; under load the three run
// side by side, so the disk does not wait for the checksums or the flush.
//
// It reports on started whether it could be placed as Options.PinWriter
// asks.
func (l *Log) run(started chan<- error) {
	defer l.workers.Done()
	if l.opts.PinWriter != nil {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		release, err := l.opts.PinWriter()
		if err != nil {
			started <- err
			return
		}
		if release != nil {
			defer release()
		}
	}
	started <- nil
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if l.err != nil {
			l.work.Broadcast()
			return
		}
		canSync, canWrite, canSeal := l.canSync(), l.canWrite(), l.canSeal()
		if l.idle > 0 && b2i(canSync)+b2i(canWrite)+b2i(canSeal) > 1 {
			// More work than this worker takes: another may run beside.
			l.work.Signal()
		}
		switch {
		case canSync:
			l.syncOnce()
		case canWrite:
			l.writeOnce()
		case canSeal:
			l.sealOnce()
		case l.closing && !l.sealing && !l.writing && !l.syncing && l.fill.first == 0 &&
			len(l.sealed) == 0 && l.writtenSq == l.synced:
			l.work.Broadcast() // the other workers exit too
			return
		default:
			l.idle++
			l.work.Wait()
			l.idle--
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// canSync reports whether a worker may take the syncing role now.
func (l *Log) canSync() bool { return !l.syncing && l.writtenSq > l.synced }

// canWrite reports whether a worker may take the writing role now.
func (l *Log) canWrite() bool { return !l.writing && len(l.sealed) > 0 }

// canSeal reports whether a worker may take the sealing role now. While a
// batch is being written or waits to be, a fill buffer under sealAt new
// bytes is left to grow: sealed now, it could only wait for the writer, and
// under a saturating load sealing at the first chance locks the log into
// small batches (a small batch is written quickly, so the next is cut
// small too), each paying a pwrite, wake-ups and scheduling for few
// records. The worker that finishes the write takes it if nobody did.
func (l *Log) canSeal() bool {
	f := l.fill
	return !l.sealing && f.first != 0 && len(l.free) > 0 && f.last-l.synced <= maxBatchField &&
		(!l.writing && len(l.sealed) == 0 || f.n-f.carried >= l.sealAt)
}

// fail records the log's first failure, with mu held, and wakes everyone.
func (l *Log) fail(err error) {
	if l.err == nil {
		l.err = fmt.Errorf("%w: %w", ErrFailed, err)
	}
	l.space.Broadcast()
	l.durc.Broadcast()
	l.drained.Broadcast()
	l.work.Broadcast()
	go func() {
		l.signal()
		// Fail-stop: nothing more is written, not even new segments.
		l.pipe.stop()
	}()
}

// syncOnce holds the syncing role for one fdatasync, with mu held (released
// around the I/O). Only records whose write returned before the fdatasync
// began are published as durable.
func (l *Log) syncOnce() {
	l.syncing = true
	upto, f, name := l.writtenSq, l.seg, l.segName
	l.mu.Unlock()
	t0 := time.Now()
	err := f.Datasync()
	l.syncNs.Add(int64(time.Since(t0)))
	l.mu.Lock()
	if err != nil {
		l.syncing = false
		l.fail(fmt.Errorf("fdatasync segment %s: %w", name, err))
		return
	}
	if l.err != nil {
		// Another operation failed meanwhile: nothing more is published.
		l.syncing = false
		return
	}
	l.synced = upto
	l.durable.Store(upto)
	l.syncs.Add(1)
	l.durc.Broadcast()
	if l.drainers > 0 {
		l.drained.Broadcast()
	}
	// The role is kept until OnDurable returns, so that its calls never
	// overlap and always see increasing sequences.
	l.mu.Unlock()
	if l.opts.OnDurable != nil {
		l.opts.OnDurable(upto)
	}
	l.signal()
	l.mu.Lock()
	l.syncing = false
	if l.drainers > 0 {
		l.drained.Broadcast()
	}
}

// sealOnce holds the sealing role for one batch, with mu held (released
// around the work): it takes the fill buffer, hands appenders a free one
// that continues its last, partly filled block, seals the batch's records
// for the durable sequence of now (a lower bound of the one when it will be
// written), copies the sealed last block into the new buffer and queues the
// batch for writing.
func (l *Log) sealOnce() {
	l.sealing = true
	b := l.fill
	if b.newSeg && b.next == nil {
		// The records' checksums are seeded with the epoch of the file
		// they go to: take it from the pipeline now. Appenders keep
		// filling b meanwhile; only the sealer replaces l.fill.
		l.mu.Unlock()
		x, err := l.pipe.get()
		l.mu.Lock()
		if err != nil {
			l.sealing = false
			l.fail(err)
			return
		}
		b.next = &x
		b.key = keyFor(x.epoch)
	}
	nb := l.free[len(l.free)-1]
	l.free = l.free[:len(l.free)-1]
	nb.carryFrom(b, l.bs)
	nb.carrying = true
	l.fill = nb
	l.space.Broadcast()
	durable := l.synced
	l.mu.Unlock()
	t0 := time.Now()
	err := sealBatch(b.buf[b.carried:b.n], durable, b.key)
	whole := b.n / l.bs * l.bs
	copy(nb.buf[:b.n-whole], b.buf[whole:b.n])
	l.sealNs.Add(int64(time.Since(t0)))
	l.mu.Lock()
	l.sealing = false
	nb.carrying = false
	l.space.Broadcast()
	if err != nil {
		l.release(b)
		l.fail(err)
		return
	}
	l.sealed = append(l.sealed, b)
}

// writeOnce holds the writing role for the oldest sealed batch, with mu
// held (released around the I/O).
func (l *Log) writeOnce() {
	l.writing = true
	defer func() { l.writing = false }()
	b := l.sealed[0]
	l.sealed = append(l.sealed[:0], l.sealed[1:]...)
	if b.newSeg {
		// A new segment: every record written to the old one must be
		// durable before it is closed.
		for l.err == nil && (l.syncing || l.writtenSq > l.synced) {
			if l.canSync() {
				l.syncOnce()
				continue
			}
			l.drainers++
			l.drained.Wait()
			l.drainers--
		}
		if l.err != nil {
			l.release(b)
			return
		}
	}
	l.mu.Unlock()
	t0 := time.Now()
	err := l.writeBatch(b)
	l.writeNs.Add(int64(time.Since(t0)))
	if err == nil && l.opts.AfterWrite != nil {
		// Written, not yet covered by an fdatasync: writtenSq is still
		// below the batch, so no sync role can take it yet.
		l.opts.AfterWrite()
	}
	l.mu.Lock()
	l.release(b)
	l.space.Broadcast()
	if err != nil {
		l.fail(err)
		return
	}
	l.writtenSq = b.last
	l.lastWrite.Store(int64(time.Since(l.epoch)))
	l.batches.Add(1)
	l.written.Add(uint64((b.n + l.bs - 1) / l.bs * l.bs))
}

// release returns b to the free buffers, with mu held, discarding a
// prepared segment file it still holds (the log has failed: it will not be
// installed).
func (l *Log) release(b *batch) {
	if b.next != nil {
		b.next.discard(l.fs)
		b.next = nil
	}
	l.free = append(l.free, b)
}

func (l *Log) signal() {
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

// carryFrom starts b as the buffer after prev: it begins with prev's last,
// partly filled block, which the next write rewrites with more records. The
// bytes themselves are copied by sealOnce once prev is sealed.
func (b *batch) carryFrom(prev *batch, bs int) {
	whole := prev.n / bs * bs
	k := prev.n - whole
	b.base = prev.base + int64(whole)
	b.n, b.carried = k, k
	b.first, b.last = 0, 0
	b.segFirst, b.segCap, b.key, b.newSeg = prev.segFirst, prev.segCap, prev.key, false
	b.next = nil
}

// writeBatch writes the sealed batch b, switching segment first if b starts
// one. Any error is final.
func (l *Log) writeBatch(b *batch) error {
	if b.newSeg {
		if err := l.roll(b); err != nil {
			return err
		}
	}
	end := (b.n + l.bs - 1) / l.bs * l.bs
	clear(b.buf[b.n:end])
	if _, err := l.seg.WriteAt(b.buf[:end], b.base); err != nil {
		return fmt.Errorf("write segment %s offset %d: %w", l.segName, b.base, err)
	}
	return nil
}

// roll switches to the new segment the batch b starts, in the file the
// sealer took for it.
func (l *Log) roll(b *batch) error {
	x := b.next
	b.next = nil
	if x == nil {
		return fmt.Errorf("walfile: batch starting segment %s was sealed without a file", segmentName(b.segFirst))
	}
	old := l.seg
	l.seg = x.f
	if err := l.installSegment(x.f, x.path, b.segFirst, x.epoch); err != nil {
		old.Close()
		return fmt.Errorf("create segment %s: %w", segmentName(b.segFirst), err)
	}
	l.switches.Add(1)
	if x.recycled {
		l.recycled.Add(1)
	}
	// The old segment's records are durable; closing it cannot lose them.
	old.Close()
	return nil
}

// Close writes and syncs every record appended so far, stops the writer
// and the file pipeline, closes the files and unmaps the write buffers. It returns the log's failure,
// if it failed.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closing {
		l.mu.Unlock()
		return ErrClosed
	}
	l.closing = true
	l.work.Broadcast()
	l.space.Broadcast()
	l.durc.Broadcast()
	l.mu.Unlock()
	<-l.done
	l.pipe.stop()
	// Every worker has stopped and appenders see closing: nothing touches
	// the buffers any more.
	l.mem.free()
	cerr := l.seg.Close()
	l.lock.Close()
	l.mu.Lock()
	l.closed = true
	l.durc.Broadcast()
	err := l.err
	l.mu.Unlock()
	l.signal()
	if err != nil {
		return err
	}
	return cerr
}

// TruncateBefore drops whole segments that hold only records below seq,
// oldest first, and fsyncs the directory. The segment being written is never
// dropped. seq may not exceed DurableSeq()+1: what it drops must be covered
// by a durable snapshot, which cannot be ahead of the durable log. Dropped
// segments of the current size go to the recycle pool (renamed) while it has
// room (Options.RecycleSegments) and are removed otherwise; a segment in the
// pool may be reused at once, so no Reader may still be reading below seq.
func (l *Log) TruncateBefore(seq uint64) error {
	if d := l.DurableSeq(); seq > d+1 {
		return fmt.Errorf("%w: truncate before %d, durable only to %d", ErrSequence, seq, d)
	}
	if err := l.Err(); err != nil {
		return err
	}
	l.truncMu.Lock()
	defer l.truncMu.Unlock()
	segs, _, err := listSegments(l.fs, l.dir)
	if err != nil {
		return err
	}
	room := l.pipe.poolRoom()
	var kept []string
	dropped := 0
	for i := 0; i+1 < len(segs) && segs[i+1].first <= seq; i++ {
		dropped++
		if room > 0 {
			if size, _, err := l.fs.Stat(segs[i].path); err == nil && size == l.opts.SegmentSize {
				dst := recyclePath(segs[i].path)
				if err := l.fs.Rename(segs[i].path, dst); err != nil {
					return err
				}
				kept = append(kept, dst)
				room--
				continue
			}
		}
		if err := l.fs.Remove(segs[i].path); err != nil {
			return err
		}
	}
	if dropped == 0 {
		return nil
	}
	if err := l.fs.SyncDir(l.dir); err != nil {
		return err
	}
	// Only now: had a reused file's new name become durable before its
	// pool name, a crash could leave it under its old segment name with
	// another segment's header.
	l.pipe.give(kept)
	return nil
}

// FirstSeq returns the first sequence the log holds on disk.
func (l *Log) FirstSeq() (uint64, error) {
	segs, _, err := listSegments(l.fs, l.dir)
	if err != nil {
		return 0, err
	}
	if len(segs) == 0 {
		return 0, fmt.Errorf("walfile: no segments in %s", l.dir)
	}
	return segs[0].first, nil
}

// NewReader returns a reader of the records from sequence from up to the
// durable sequence at the time of the call. from 0 means the first record
// on disk.
func (l *Log) NewReader(from uint64) (*Reader, error) {
	limit := l.DurableSeq()
	r, err := NewReader(l.dir, l.opts, from)
	if err != nil {
		return nil, err
	}
	r.limit = limit
	r.bounded = true
	return r, nil
}
