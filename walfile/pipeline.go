package walfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
)

// pipeline prepares segments ahead of the writer, as etcd's file pipeline
// does: each is created under a temporary name, written full of zeros and
// fsynced, so that switching to it costs the writer only a header write, a
// rename and a directory fsync.
type pipeline struct {
	fs    vfs.FS
	dir   string
	size  int64
	flag  int
	zero  []byte
	ch    chan prepared
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
	ready atomic.Int32 // prepared segments not yet taken
	// busy reports whether the log is writing; nil: never.
	busy func() bool
}

// yieldPause is how long the pipeline waits before it looks again whether
// the log is still busy.
const yieldPause = time.Millisecond

// yield waits, before each chunk of zeros, while a prepared segment is still
// ready and the log is busy writing: the zeros then go to the disk between
// bursts of records instead of taking half of its bandwidth during them.
// With no segment ready the log will need this one next, and it is written
// at once.
func (p *pipeline) yield() {
	for p.busy != nil && p.ready.Load() > 0 && p.busy() {
		select {
		case <-p.stopc:
			return
		case <-time.After(yieldPause):
		}
	}
}

// prepared is a zero-filled segment file, or the error preparing one.
type prepared struct {
	f    vfs.File
	path string
	err  error
}

var errPipelineStopped = errors.New("walfile: segment pipeline stopped")

func startPipeline(fs vfs.FS, dir string, size int64, flag, ahead int, busy func() bool) *pipeline {
	p := &pipeline{
		fs: fs, dir: dir, size: size, flag: flag, busy: busy,
		zero:  vfs.AlignedBuffer(int(min(size, 1<<20))),
		ch:    make(chan prepared, ahead-1),
		stopc: make(chan struct{}),
		done:  make(chan struct{}),
	}
	go p.run()
	return p
}

func (p *pipeline) run() {
	defer close(p.done)
	defer close(p.ch)
	for i := 0; ; i++ {
		path := filepath.Join(p.dir, fmt.Sprintf("prealloc-%d%s", i, tmpExt))
		f, err := prepareSegment(p.fs, path, p.size, p.flag, p.zero, p.stopc, p.yield)
		if err == nil {
			p.ready.Add(1)
		}
		select {
		case p.ch <- prepared{f: f, path: path, err: err}:
			if err != nil {
				return
			}
		case <-p.stopc:
			if f != nil {
				f.Close()
				p.fs.Remove(path)
			}
			return
		}
	}
}

// get returns the next prepared segment, waiting for it if needed.
func (p *pipeline) get() (vfs.File, string, error) {
	x, ok := <-p.ch
	if !ok {
		return nil, "", errPipelineStopped
	}
	if x.err != nil {
		return nil, "", fmt.Errorf("prepare segment %s: %w", x.path, x.err)
	}
	p.ready.Add(-1)
	return x.f, x.path, nil
}

// stop ends the pipeline and removes the segments it prepared but nobody
// took. Their names were never made durable; Open removes any that a crash
// leaves behind.
func (p *pipeline) stop() {
	p.once.Do(func() {
		close(p.stopc)
		<-p.done
		for x := range p.ch {
			if x.f != nil {
				x.f.Close()
				p.fs.Remove(x.path)
			}
		}
	})
}

// prepareSegment creates path full of zeros, size bytes, and fsyncs it.
// stop, when closed, abandons the work; yield, when set, is called before
// each write.
func prepareSegment(fs vfs.FS, path string, size int64, flag int, zero []byte, stop <-chan struct{}, yield func()) (vfs.File, error) {
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
		if yield != nil {
			yield()
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
