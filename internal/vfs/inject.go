package vfs

import (
	"errors"
	"os"
	"sync/atomic"
	"syscall"
)

// Op is a kind of filesystem operation, as a bit so that sets of kinds can be
// or-ed together.
type Op uint32

// Operation kinds seen by an Injector.
const (
	OpOpen     Op = 1 << iota // OpenFile
	OpRead                    // Read, ReadAt
	OpWrite                   // Write, WriteAt
	OpSync                    // Sync, Datasync
	OpTruncate                // Truncate
	OpRemove                  // Remove
	OpRename                  // Rename
	OpMkdir                   // MkdirAll
	OpReadDir                 // ReadDir, Stat
	OpSyncDir                 // SyncDir

	OpAll = OpOpen | OpRead | OpWrite | OpSync | OpTruncate | OpRemove | OpRename | OpMkdir | OpReadDir | OpSyncDir
)

var opNames = [...]string{"open", "read", "write", "sync", "truncate", "remove", "rename", "mkdir", "readdir", "syncdir"}

func (o Op) String() string {
	s := ""
	for i, n := range opNames {
		if o&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if s == "" {
		return "none"
	}
	return s
}

// Injected errors, for convenience: what a full disk and a failing device
// return.
var (
	ErrNoSpace = syscall.ENOSPC
	ErrIO      = syscall.EIO
)

// An Injector is consulted before every operation; a non-nil error is
// returned in place of the operation, which is then not performed.
type Injector interface {
	MaybeError(op Op, name string) error
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(op Op, name string) error

// MaybeError implements Injector.
func (f InjectorFunc) MaybeError(op Op, name string) error { return f(op, name) }

// FailAt fails the N-th (counting from 0) operation whose kind is in Ops, and
// every later one of those kinds when Sticky is set (a dead device stays
// dead). With N < 0 it never fails and only counts, which is how a test
// learns how many operations a reference run makes.
type FailAt struct {
	Ops    Op
	N      int64
	Err    error
	Sticky bool

	seen   atomic.Int64
	failed atomic.Bool
}

// MaybeError implements Injector.
func (f *FailAt) MaybeError(op Op, name string) error {
	if op&f.Ops == 0 {
		return nil
	}
	i := f.seen.Add(1) - 1
	if f.N >= 0 && (i == f.N || (f.Sticky && i > f.N)) {
		f.failed.Store(true)
		return f.Err
	}
	return nil
}

// Seen returns how many operations of the chosen kinds were attempted.
func (f *FailAt) Seen() int64 { return f.seen.Load() }

// Fired reports whether the injected error was returned at least once.
func (f *FailAt) Fired() bool { return f.failed.Load() }

// Inject wraps fs so that inj may fail any operation.
func Inject(fs FS, inj Injector) FS { return &injectFS{fs: fs, inj: inj} }

type injectFS struct {
	fs  FS
	inj Injector
}

func pathErr(op, name string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &os.PathError{Op: op, Path: name, Err: err}
}

func (i *injectFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	if err := i.inj.MaybeError(OpOpen, name); err != nil {
		return nil, pathErr("open", name, err)
	}
	f, err := i.fs.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &injectFile{File: f, inj: i.inj}, nil
}

func (i *injectFS) Remove(name string) error {
	if err := i.inj.MaybeError(OpRemove, name); err != nil {
		return pathErr("remove", name, err)
	}
	return i.fs.Remove(name)
}

func (i *injectFS) Rename(oldname, newname string) error {
	if err := i.inj.MaybeError(OpRename, newname); err != nil {
		return pathErr("rename", newname, err)
	}
	return i.fs.Rename(oldname, newname)
}

func (i *injectFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := i.inj.MaybeError(OpMkdir, dir); err != nil {
		return pathErr("mkdir", dir, err)
	}
	return i.fs.MkdirAll(dir, perm)
}

func (i *injectFS) ReadDir(dir string) ([]string, error) {
	if err := i.inj.MaybeError(OpReadDir, dir); err != nil {
		return nil, pathErr("readdir", dir, err)
	}
	return i.fs.ReadDir(dir)
}

func (i *injectFS) Stat(name string) (int64, bool, error) {
	if err := i.inj.MaybeError(OpReadDir, name); err != nil {
		return 0, false, pathErr("stat", name, err)
	}
	return i.fs.Stat(name)
}

func (i *injectFS) SyncDir(dir string) error {
	if err := i.inj.MaybeError(OpSyncDir, dir); err != nil {
		return pathErr("syncdir", dir, err)
	}
	return i.fs.SyncDir(dir)
}

type injectFile struct {
	File
	inj Injector
}

func (f *injectFile) Read(p []byte) (int, error) {
	if err := f.inj.MaybeError(OpRead, f.Name()); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.Read(p)
}

func (f *injectFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(OpRead, f.Name()); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.ReadAt(p, off)
}

func (f *injectFile) Write(p []byte) (int, error) {
	if err := f.inj.MaybeError(OpWrite, f.Name()); err != nil {
		return 0, pathErr("write", f.Name(), err)
	}
	return f.File.Write(p)
}

func (f *injectFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.inj.MaybeError(OpWrite, f.Name()); err != nil {
		return 0, pathErr("write", f.Name(), err)
	}
	return f.File.WriteAt(p, off)
}

func (f *injectFile) Sync() error {
	if err := f.inj.MaybeError(OpSync, f.Name()); err != nil {
		return pathErr("fsync", f.Name(), err)
	}
	return f.File.Sync()
}

func (f *injectFile) Datasync() error {
	if err := f.inj.MaybeError(OpSync, f.Name()); err != nil {
		return pathErr("fdatasync", f.Name(), err)
	}
	return f.File.Datasync()
}

func (f *injectFile) Truncate(size int64) error {
	if err := f.inj.MaybeError(OpTruncate, f.Name()); err != nil {
		return pathErr("truncate", f.Name(), err)
	}
	return f.File.Truncate(size)
}

// Unwrap returns the wrapped file.
func (f *injectFile) Unwrap() File { return f.File }

// SkipSync wraps fs so that the operations in ops (OpSync, OpSyncDir) succeed
// without doing anything. It is for negative controls only: a durability
// test that still passes over SkipSync is not testing durability.
func SkipSync(fs FS, ops Op) FS { return &skipFS{FS: fs, ops: ops} }

type skipFS struct {
	FS
	ops Op
}

func (s *skipFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := s.FS.OpenFile(name, flag, perm)
	if err != nil || s.ops&OpSync == 0 {
		return f, err
	}
	return skipFile{f}, nil
}

func (s *skipFS) SyncDir(dir string) error {
	if s.ops&OpSyncDir != 0 {
		return nil
	}
	return s.FS.SyncDir(dir)
}

type skipFile struct{ File }

func (skipFile) Sync() error     { return nil }
func (skipFile) Datasync() error { return nil }

// Unwrap returns the wrapped file.
func (s skipFile) Unwrap() File { return s.File }
