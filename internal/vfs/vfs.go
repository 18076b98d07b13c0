// Package vfs is the filesystem seam between cowbook's storage code (the
// write-ahead log, snapshot files) and the operating system.
//
// Storage code never calls package os directly for files it must make
// durable. It goes through FS, so tests can substitute:
//
//   - MemFS, an in-memory filesystem with a crash model: Crash returns the
//     filesystem as a power cut would leave it, with every write that was not
//     followed by Sync/Datasync dropped (or torn, at sector granularity) and
//     every directory entry that was not followed by SyncDir of its directory
//     rolled back;
//   - Inject, a wrapper that fails the N-th operation of a chosen kind with a
//     chosen error (EIO, ENOSPC), in the style of pebble's errorfs;
//   - SkipSync, a wrapper that turns chosen syncs into no-ops. It exists only
//     for negative controls: a durability test run over it must fail, or the
//     test has gone blind.
//
// The contract mirrors POSIX as the storage literature reads it: data is
// durable only after the file is synced, a new or renamed name is durable only
// after its directory is synced, and a failed sync leaves the file's state
// unknown (callers fail-stop; they never retry).
package vfs

import (
	"io"
	"os"
	"sort"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ODirect is the open flag for direct I/O. MemFS honours it by checking that
// every read and write is aligned to DirectAlign (offset, length and buffer
// address), so alignment bugs surface in tests rather than as EINVAL in
// production.
const ODirect = unix.O_DIRECT

// DirectAlign is the alignment cowbook uses for O_DIRECT I/O: offsets, lengths
// and buffer addresses are multiples of it. statx on this project's machines
// reports 512; 4 KiB also matches the page size and every common device.
const DirectAlign = 4096

// File is an open file.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Closer
	// Sync flushes data and metadata (fsync).
	Sync() error
	// Datasync flushes data and the metadata needed to read it back
	// (fdatasync). For a file whose size does not change it is what a log
	// needs, and it is cheaper than Sync.
	Datasync() error
	// Truncate changes the file's size. Like a write, it is durable only
	// after a sync.
	Truncate(size int64) error
	// Size returns the current size in bytes.
	Size() (int64, error)
	// Name returns the name the file was opened with.
	Name() string
}

// FS is a filesystem.
type FS interface {
	// OpenFile opens name with os.OpenFile flags; ODirect may be or-ed in.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename atomically replaces newname with oldname.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names in dir, sorted.
	ReadDir(dir string) ([]string, error)
	// Stat returns the size of name and whether it is a directory.
	Stat(name string) (size int64, isDir bool, err error)
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(dir string) error
}

// Create creates or truncates name for reading and writing.
func Create(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
}

// Open opens name read-only.
func Open(fs FS, name string) (File, error) {
	return fs.OpenFile(name, os.O_RDONLY, 0)
}

// ReadFile reads a whole file.
func ReadFile(fs FS, name string) ([]byte, error) {
	f, err := Open(fs, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := f.Size()
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// OS is the real filesystem.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                 { return os.Remove(name) }
func (osFS) Rename(oldname, newname string) error     { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(dir string, p os.FileMode) error { return os.MkdirAll(dir, p) }

func (osFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) Stat(name string) (int64, bool, error) {
	fi, err := os.Stat(name)
	if err != nil {
		return 0, false, err
	}
	return fi.Size(), fi.IsDir(), nil
}

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	serr := d.Sync()
	cerr := d.Close()
	if serr != nil {
		return serr
	}
	return cerr
}

func (f osFile) Datasync() error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "fdatasync", Path: f.File.Name(), Err: err}
			}
			return nil
		}
	}
}

func (f osFile) Size() (int64, error) {
	fi, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// Fd returns the OS file descriptor behind f, or false when f is not backed
// by one (MemFS).
// Wrappers are looked through.
func Fd(f File) (uintptr, bool) {
	for {
		switch v := f.(type) {
		case osFile:
			return v.File.Fd(), true
		case interface{ Unwrap() File }:
			f = v.Unwrap()
		default:
			return 0, false
		}
	}
}

// AlignedBuffer returns a zeroed buffer of n bytes whose address is a
// multiple of DirectAlign, as O_DIRECT requires. Go's heap does not move
// objects, so the alignment holds for the buffer's lifetime.
func AlignedBuffer(n int) []byte {
	b := make([]byte, n+DirectAlign)
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (DirectAlign - 1))
	return b[off : off+n : off+n]
}
