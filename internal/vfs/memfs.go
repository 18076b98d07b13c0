package vfs

import (
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"unsafe"
)

// SectorSize is the unit a crash may tear an unsynced write at: a device
// persists whole sectors, in any order.
const SectorSize = 512

// MemFS is an in-memory FS with a crash model. It is safe for concurrent use.
//
// Each file (inode) keeps its current bytes and the bytes as of its last
// Sync/Datasync, plus the writes made since. Each directory keeps its current
// entries and the entries as of its last SyncDir. Crash builds the
// filesystem a power cut would leave behind from the durable halves only.
type MemFS struct {
	mu      sync.Mutex
	files   map[string]*inode // current namespace
	dirs    map[string]bool
	dFiles  map[string]*inode // durable namespace
	dDirs   map[string]bool
	nextIno int
	// dirRenames are directory renames not yet durable, in order: the
	// next SyncDir of their parent applies them to the durable namespace.
	dirRenames []dirRename
}

type dirRename struct{ from, to string }

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// moveTree moves every path of files and dirs at or under from to the same
// place under to.
func moveTree[V any](m map[string]V, from, to string) {
	moved := map[string]V{}
	for p, v := range m {
		if under(p, from) {
			moved[to+strings.TrimPrefix(p, from)] = v
			delete(m, p)
		}
	}
	for p, v := range moved {
		m[p] = v
	}
}

type inode struct {
	ino     int
	data    []byte
	synced  []byte
	pending []pendingWrite // writes since the last sync, in order
}

type pendingWrite struct {
	off  int64
	data []byte // nil for a truncate
	size int64  // the new size, for a truncate
}

// NewMemFS returns an empty MemFS whose root ("/" and ".") exists durably.
func NewMemFS() *MemFS {
	m := &MemFS{
		files:  map[string]*inode{},
		dirs:   map[string]bool{"/": true, ".": true},
		dFiles: map[string]*inode{},
		dDirs:  map[string]bool{"/": true, ".": true},
	}
	return m
}

func clean(name string) string { return filepath.Clean(name) }

func notExist(op, name string) error {
	return &os.PathError{Op: op, Path: name, Err: os.ErrNotExist}
}

// OpenFile implements FS.
func (m *MemFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if m.dirs[name] {
		if flag&(os.O_WRONLY|os.O_RDWR) != 0 {
			return nil, &os.PathError{Op: "open", Path: name, Err: errors.New("is a directory")}
		}
	}
	ino := m.files[name]
	if ino == nil {
		if flag&os.O_CREATE == 0 {
			return nil, notExist("open", name)
		}
		if !m.dirs[filepath.Dir(name)] {
			return nil, notExist("open", name)
		}
		m.nextIno++
		ino = &inode{ino: m.nextIno}
		m.files[name] = ino
	} else if flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrExist}
	}
	if flag&os.O_TRUNC != 0 && len(ino.data) > 0 {
		ino.truncate(0)
	}
	return &memFile{fs: m, ino: ino, name: name, flag: flag}, nil
}

// Remove implements FS.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if _, ok := m.files[name]; ok {
		delete(m.files, name)
		return nil
	}
	if m.dirs[name] {
		for p := range m.files {
			if filepath.Dir(p) == name {
				return &os.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
			}
		}
		for d := range m.dirs {
			if d != name && filepath.Dir(d) == name {
				return &os.PathError{Op: "remove", Path: name, Err: errors.New("directory not empty")}
			}
		}
		delete(m.dirs, name)
		return nil
	}
	return notExist("remove", name)
}

// Rename implements FS. Renaming directories is not supported.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldname, newname = clean(oldname), clean(newname)
	if !m.dirs[filepath.Dir(newname)] {
		return notExist("rename", newname)
	}
	if m.dirs[oldname] {
		// A directory, with everything in it. Like rename(2), it needs
		// a new name that does not exist (an empty directory would be
		// replaced there; this model refuses any).
		if _, ok := m.files[newname]; ok || m.dirs[newname] || under(newname, oldname) {
			return &os.PathError{Op: "rename", Path: newname, Err: os.ErrExist}
		}
		moveTree(m.files, oldname, newname)
		moveTree(m.dirs, oldname, newname)
		m.dirRenames = append(m.dirRenames, dirRename{oldname, newname})
		return nil
	}
	ino, ok := m.files[oldname]
	if !ok {
		return notExist("rename", oldname)
	}
	delete(m.files, oldname)
	m.files[newname] = ino
	return nil
}

// MkdirAll implements FS.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	for d := dir; !m.dirs[d]; d = filepath.Dir(d) {
		if _, ok := m.files[d]; ok {
			return &os.PathError{Op: "mkdir", Path: d, Err: errors.New("not a directory")}
		}
		m.dirs[d] = true
	}
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if !m.dirs[dir] {
		return nil, notExist("readdir", dir)
	}
	var names []string
	for p := range m.files {
		if filepath.Dir(p) == dir {
			names = append(names, filepath.Base(p))
		}
	}
	for d := range m.dirs {
		if d != dir && filepath.Dir(d) == dir {
			names = append(names, filepath.Base(d))
		}
	}
	sort.Strings(names)
	return names, nil
}

// Stat implements FS.
func (m *MemFS) Stat(name string) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = clean(name)
	if ino, ok := m.files[name]; ok {
		return int64(len(ino.data)), false, nil
	}
	if m.dirs[name] {
		return 0, true, nil
	}
	return 0, false, notExist("stat", name)
}

// SyncDir implements FS: the entries of dir (files and subdirectories) become
// durable as they are now.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	dir = clean(dir)
	if !m.dirs[dir] {
		return notExist("syncdir", dir)
	}
	// Directory renames within dir become durable, and what was durable
	// inside the old name moves with them.
	keep := m.dirRenames[:0]
	for _, r := range m.dirRenames {
		if filepath.Dir(r.from) == dir && filepath.Dir(r.to) == dir {
			moveTree(m.dFiles, r.from, r.to)
			moveTree(m.dDirs, r.from, r.to)
			continue
		}
		keep = append(keep, r)
	}
	m.dirRenames = keep
	for p := range m.dFiles {
		if filepath.Dir(p) == dir {
			delete(m.dFiles, p)
		}
	}
	for p, ino := range m.files {
		if filepath.Dir(p) == dir {
			m.dFiles[p] = ino
		}
	}
	for d := range m.dDirs {
		if d != dir && filepath.Dir(d) == dir {
			delete(m.dDirs, d)
		}
	}
	for d := range m.dirs {
		if d != dir && filepath.Dir(d) == dir {
			m.dDirs[d] = true
		}
	}
	return nil
}

// CrashOptions chooses how much of the unsynced state survives a crash.
type CrashOptions struct {
	// Rand, when set, keeps a random subset of the unsynced writes, each
	// torn at sector granularity (any subset of its sectors, in any order),
	// as a real device may. When nil every unsynced write is dropped.
	Rand *rand.Rand
}

// Crash returns the filesystem as a power cut at this instant would leave
// it: only durable directory entries, and for each file only its synced bytes
// (plus, with opts.Rand, random sectors of unsynced writes). m itself is left
// unchanged; handles opened on m keep referring to m.
func (m *MemFS) Crash(opts CrashOptions) *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := NewMemFS()
	for d := range m.dDirs {
		if m.durablePath(d) {
			n.dirs[d], n.dDirs[d] = true, true
		}
	}
	copies := map[*inode]*inode{}
	// Iterate in sorted order so a seeded crash is reproducible.
	paths := make([]string, 0, len(m.dFiles))
	for p := range m.dFiles {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if !m.durablePath(filepath.Dir(p)) {
			continue
		}
		old := m.dFiles[p]
		c := copies[old]
		if c == nil {
			c = &inode{ino: old.ino, data: old.crashImage(opts.Rand)}
			c.synced = append([]byte(nil), c.data...)
			copies[old] = c
			if old.ino > n.nextIno {
				n.nextIno = old.ino
			}
		}
		n.files[p], n.dFiles[p] = c, c
	}
	return n
}

// durablePath reports whether dir and all its ancestors are durable entries.
func (m *MemFS) durablePath(dir string) bool {
	for {
		if !m.dDirs[dir] {
			return false
		}
		if dir == "/" || dir == "." {
			return true
		}
		dir = filepath.Dir(dir)
	}
}

func (ino *inode) crashImage(r *rand.Rand) []byte {
	img := append([]byte(nil), ino.synced...)
	if r == nil {
		return img
	}
	for _, w := range ino.pending {
		if r.Intn(2) == 0 {
			continue
		}
		if w.data == nil {
			if int64(len(img)) > w.size {
				img = img[:w.size]
			} else {
				img = append(img, make([]byte, w.size-int64(len(img)))...)
			}
			continue
		}
		for s := int64(0); s < int64(len(w.data)); s += SectorSize {
			if r.Intn(2) == 0 {
				continue
			}
			e := min(s+SectorSize, int64(len(w.data)))
			off := w.off + s
			if need := off + (e - s); need > int64(len(img)) {
				img = append(img, make([]byte, need-int64(len(img)))...)
			}
			copy(img[off:], w.data[s:e])
		}
	}
	return img
}

func (ino *inode) truncate(size int64) {
	if size <= int64(len(ino.data)) {
		ino.data = ino.data[:size:size]
	} else {
		ino.data = append(ino.data, make([]byte, size-int64(len(ino.data)))...)
	}
	ino.pending = append(ino.pending, pendingWrite{size: size})
}

func (ino *inode) sync() {
	ino.synced = append(ino.synced[:0:0], ino.data...)
	ino.pending = nil
}

// Files returns every current file path and its size, sorted, for test
// diagnostics.
func (m *MemFS) Files() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p, ino := range m.files {
		out = append(out, fmt.Sprintf("%s (%d bytes)", p, len(ino.data)))
	}
	sort.Strings(out)
	return out
}

type memFile struct {
	fs     *MemFS
	ino    *inode
	name   string
	flag   int
	pos    int64
	closed bool
}

var errClosed = errors.New("vfs: file already closed")

func (f *memFile) checkDirect(op string, p []byte, off int64) error {
	if f.flag&ODirect == 0 {
		return nil
	}
	misaligned := off%DirectAlign != 0 || len(p)%DirectAlign != 0
	if len(p) > 0 && uintptr(unsafe.Pointer(&p[0]))%DirectAlign != 0 {
		misaligned = true
	}
	if misaligned {
		return &os.PathError{Op: op, Path: f.name, Err: fmt.Errorf("O_DIRECT I/O not aligned to %d: offset %d, length %d", DirectAlign, off, len(p))}
	}
	return nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if f.flag&os.O_WRONLY != 0 {
		return 0, &os.PathError{Op: "read", Path: f.name, Err: errors.New("bad file descriptor")}
	}
	if err := f.checkDirect("read", p, off); err != nil {
		return 0, err
	}
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.ino.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Read(p []byte) (int, error) {
	n, err := f.ReadAt(p, f.pos)
	f.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

func (f *memFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return 0, errClosed
	}
	if f.flag&(os.O_WRONLY|os.O_RDWR) == 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: errors.New("bad file descriptor")}
	}
	if err := f.checkDirect("write", p, off); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, &os.PathError{Op: "write", Path: f.name, Err: errors.New("negative offset")}
	}
	ino := f.ino
	if end := off + int64(len(p)); end > int64(len(ino.data)) {
		ino.data = append(ino.data, make([]byte, end-int64(len(ino.data)))...)
	}
	copy(ino.data[off:], p)
	ino.pending = append(ino.pending, pendingWrite{off: off, data: append([]byte(nil), p...)})
	return len(p), nil
}

func (f *memFile) Write(p []byte) (int, error) {
	if f.flag&os.O_APPEND != 0 {
		sz, _ := f.Size()
		f.pos = sz
	}
	n, err := f.WriteAt(p, f.pos)
	f.pos += int64(n)
	return n, err
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.closed = true
	return nil
}

func (f *memFile) Sync() error { return f.Datasync() }

func (f *memFile) Datasync() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	f.ino.sync()
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return errClosed
	}
	if size < 0 {
		return &os.PathError{Op: "truncate", Path: f.name, Err: errors.New("negative size")}
	}
	f.ino.truncate(size)
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Name() string { return f.name }

// Bytes returns a copy of the current contents of name, for tests.
func (m *MemFS) Bytes(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.files[clean(name)]
	if !ok {
		return nil, false
	}
	return append([]byte(nil), ino.data...), true
}
