package walfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

// pipeline prepares segments ahead of the writer, as etcd's file pipeline
// does, so that switching to one costs the writer only a header write, an
// fdatasync, a rename and a directory fsync. It takes a file from the
// recycle pool when there is one: that file is already fully written, so it
// is only opened and its header read for the epoch of its next life.
// Otherwise it creates a file under a temporary name, writes it full of
// zeros and fsyncs it.
type pipeline struct {
	fs    vfs.FS
	dir   string
	size  int64
	flag  int
	zero  []byte    // what segments are zero-filled from; only run uses it
	mem   *ioMemory // zero's memory, freed when run returns
	ch    chan prepared
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
	ready atomic.Int32 // prepared segments not yet taken
	// busy reports whether the log is writing; nil: never.
	busy func() bool

	leftovers []string // prepared files found by open, handed out first

	poolMu  sync.Mutex
	pool    []string // paths of recycled segment files, oldest first
	poolMax int      // bound of the pool; ≤ 0: no pool
}

// yieldPause is how long the pipeline waits before it looks again whether
// the log is still busy.
const yieldPause = time.Millisecond

// yield waits, before each chunk of zeros, while a prepared segment is still
// ready and the log is busy writing: the zeros then go to the disk between
// bursts of records instead of taking half of its bandwidth during them.
// With no segment ready the log will need this one next, and it is written
// at once. It returns true when a recycled file has become available: the
// zero-filling is then abandoned for it.
func (p *pipeline) yield() bool {
	for {
		if p.poolLen() > 0 {
			return true
		}
		if p.busy == nil || p.ready.Load() == 0 || !p.busy() {
			return false
		}
		select {
		case <-p.stopc:
			return false
		case <-time.After(yieldPause):
		}
	}
}

// prepared is a segment file ready to be installed, or the error preparing
// one.
type prepared struct {
	f        vfs.File
	path     string
	epoch    uint64 // of the file's next life
	recycled bool   // taken from the recycle pool (path is its pool name)
	err      error
}

// discard closes a prepared file nobody will install. It stays in the
// directory: a zero-filled one under its temporary name, which the next
// Open reuses as a prepared segment (see open), a recycled one under its
// pool name, which returns to the pool on the next Open.
func (x prepared) discard(fs vfs.FS) {
	if x.f != nil {
		x.f.Close()
	}
}

var (
	errPipelineStopped = errors.New("walfile: segment pipeline stopped")
	errUseRecycled     = errors.New("walfile: a recycled segment became available")
)

// leftovers are files an earlier pipeline prepared in dir, of size bytes
// (see open): they are handed out first, after an fsync.
func startPipeline(fs vfs.FS, dir string, size int64, flag, ahead int, busy func() bool, pool []string, poolMax int, leftovers ...string) *pipeline {
	p := &pipeline{
		fs: fs, dir: dir, size: size, flag: flag, busy: busy, pool: pool, poolMax: poolMax,
		mem:   &ioMemory{},
		ch:    make(chan prepared, ahead-1),
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
	}
	// Zero-filling writes as many bytes as the records do: from a huge
	// page its writes cost the kernel half the CPU, as the log's do.
	n := int(min(size, 1<<20))
	zero, err := p.mem.buffer(n)
	if err != nil {
		zero = vfs.AlignedBuffer(n)
	}
	p.zero = zero
	p.leftovers = leftovers
	go p.run()
	return p
}

func (p *pipeline) run() {
	defer close(p.done)
	defer close(p.ch)
	defer p.mem.free()
	taken := make(map[string]bool, len(p.leftovers))
	for _, path := range p.leftovers {
		taken[path] = true
		f, err := openLeftover(p.fs, path, p.size, p.flag)
		if errors.Is(err, errLeftoverSize) {
			p.fs.Remove(path)
			continue
		}
		x := prepared{f: f, path: path, epoch: freshEpoch, err: err}
		if err == nil {
			p.ready.Add(1)
		}
		select {
		case p.ch <- x:
			if err != nil {
				// As when preparing a new one fails: the log fails when
				// it needs the segment.
				return
			}
		case <-p.stopc:
			x.discard(p.fs)
			return
		}
	}
	for i := 0; ; i++ {
		var x prepared
		if path := p.take(); path != "" {
			f, epoch, err := openRecycled(p.fs, path, p.size, p.flag)
			if err != nil {
				// Not reusable (wrong size, unreadable header): a
				// fresh file takes its place.
				p.fs.Remove(path)
				continue
			}
			x = prepared{f: f, path: path, epoch: epoch, recycled: true}
		} else {
			path := filepath.Join(p.dir, fmt.Sprintf("prealloc-%d%s", i, tmpExt))
			if taken[path] {
				continue // a leftover handed out above
			}
			f, err := prepareSegment(p.fs, path, p.size, p.flag, p.zero, p.stopc, p.yield)
			if err == errUseRecycled {
				continue
			}
			x = prepared{f: f, path: path, epoch: freshEpoch, err: err}
		}
		if x.err == nil {
			p.ready.Add(1)
		}
		select {
		case p.ch <- x:
			if x.err != nil {
				return
			}
		case <-p.stopc:
			x.discard(p.fs)
			return
		}
	}
}

// poolLen returns the number of files in the recycle pool.
func (p *pipeline) poolLen() int {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	return len(p.pool)
}

// take removes the oldest file from the recycle pool and returns its path,
// "" when the pool is empty.
func (p *pipeline) take() string {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	if len(p.pool) == 0 {
		return ""
	}
	path := p.pool[0]
	p.pool = append(p.pool[:0], p.pool[1:]...)
	return path
}

// poolRoom returns how many more files the recycle pool takes.
func (p *pipeline) poolRoom() int {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	return max(p.poolMax-len(p.pool), 0)
}

// give adds files, already renamed to their pool names and with the rename
// durable, to the recycle pool.
func (p *pipeline) give(paths []string) {
	p.poolMu.Lock()
	defer p.poolMu.Unlock()
	p.pool = append(p.pool, paths...)
}

// recyclePath returns the pool name of the segment file at path.
func recyclePath(path string) string { return path + recycleExt }

// listRecycled returns the paths of the recycled segment files in dir,
// oldest segment first.
func listRecycled(fs vfs.FS, dir string) ([]string, error) {
	names, err := fs.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if seg, ok := strings.CutSuffix(n, recycleExt); ok {
			if _, ok := parseSegmentName(seg); ok {
				out = append(out, filepath.Join(dir, n))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// openRecycled opens the recycled segment file at path for its next life:
// it must have the segment size (so it is fully written: segments never
// change size) and a valid header, whose epoch the next life's follows.
func openRecycled(fs vfs.FS, path string, size int64, flag int) (vfs.File, uint64, error) {
	n, _, err := fs.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if n != size {
		return nil, 0, fmt.Errorf("walfile: recycled segment %s has %d bytes, want %d", path, n, size)
	}
	h, err := readHeader(fs, path)
	if err != nil {
		return nil, 0, err
	}
	f, err := fs.OpenFile(path, os.O_RDWR|flag, 0)
	if err != nil {
		return nil, 0, err
	}
	return f, nextEpoch(h.epoch), nil
}

// get returns the next prepared segment, waiting for it if needed.
func (p *pipeline) get() (prepared, error) {
	x, ok := <-p.ch
	if !ok {
		return prepared{}, errPipelineStopped
	}
	if x.err != nil {
		return prepared{}, fmt.Errorf("prepare segment %s: %w", x.path, x.err)
	}
	p.ready.Add(-1)
	return x, nil
}

// stop ends the pipeline and closes the segments it prepared but nobody
// took; they stay for the next Open (see discard).
func (p *pipeline) stop() {
	p.once.Do(func() {
		close(p.stopc)
		<-p.done
		for x := range p.ch {
			x.discard(p.fs)
		}
	})
}

// isPipelineTmp reports whether name is one the pipeline prepares segments
// under (prealloc-N.tmp; not the first segment's prealloc-first.tmp, which
// gets its header before its rename).
func isPipelineTmp(name string) bool {
	n, ok := strings.CutPrefix(name, "prealloc-")
	if !ok {
		return false
	}
	n, ok = strings.CutSuffix(n, tmpExt)
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// errLeftoverSize: a prepared segment left by an earlier pipeline is not of
// the segment size (Open checked it; the pipeline checks again).
var errLeftoverSize = errors.New("walfile: prepared segment of another size")

// openLeftover opens a segment an earlier pipeline prepared at path, checks
// that it has its full size and fsyncs it (its zeros may not have been
// durable when its process died). A failed open or fsync is returned as
// it is, and fails the log as a failure to prepare a new segment would.
func openLeftover(fs vfs.FS, path string, size int64, flag int) (vfs.File, error) {
	f, err := fs.OpenFile(path, os.O_RDWR|flag, 0)
	if err != nil {
		return nil, err
	}
	if n, err := f.Size(); err != nil || n != size {
		f.Close()
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s: %d bytes, want %d", errLeftoverSize, path, n, size)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// prepareSegment creates path full of zeros, size bytes, and fsyncs it.
// stop, when closed, abandons the work; yield, when set, is called before
// each write, and abandons it with errUseRecycled when it returns true.
func prepareSegment(fs vfs.FS, path string, size int64, flag int, zero []byte, stop <-chan struct{}, yield func() bool) (vfs.File, error) {
	f, err := fs.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC|flag, 0o644)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (vfs.File, error) {
		f.Close()
		fs.Remove(path)
		return nil, err
	}
	for off := int64(0); off < size; {
		select {
		case <-stop:
			return fail(errPipelineStopped)
		default:
		}
		if yield != nil && yield() {
			return fail(errUseRecycled)
		}
		n := min(int64(len(zero)), size-off)
		if _, err := f.WriteAt(zero[:n], off); err != nil {
			return fail(err)
		}
		off += n
	}
	// Sync, not Datasync: the size changed.
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return f, nil
}
