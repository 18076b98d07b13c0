package mmapsnap_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

// TestWriteFaults fails each write, the file sync, the rename and the
// directory sync of a publish with ENOSPC or EIO: Write must return that
// error, and leave no temporary file and (but for the directory sync,
// which comes after the rename) no new snapshot; the older snapshot stays
// whole.
func TestWriteFaults(t *testing.T) {
	old := payload("orders", 3*mmapsnap.MinBlockSize, 1)
	data := payload("mixed", 6*mmapsnap.MinBlockSize+9, 2)
	setup := func() *vfs.MemFS {
		m := newMemDir(t, "/snap")
		mustWrite(t, m, "/snap", 1, old, mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
		return m
	}
	counter := &vfs.FailAt{Ops: vfs.OpWrite, N: -1}
	mustWrite(t, vfs.Inject(setup(), counter), "/snap", 2, data, mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
	writes := counter.Seen()
	type fault struct {
		ops vfs.Op
		n   int64
	}
	var faults []fault
	for n := int64(0); n < writes; n++ {
		faults = append(faults, fault{vfs.OpWrite, n})
	}
	faults = append(faults, fault{vfs.OpSync, 0}, fault{vfs.OpRename, 0}, fault{vfs.OpOpen, 0}, fault{vfs.OpSyncDir, 0})
	for _, f := range faults {
		for _, injected := range []error{vfs.ErrNoSpace, vfs.ErrIO} {
			t.Run(fmt.Sprintf("%v#%d/%v", f.ops, f.n, injected), func(t *testing.T) {
				m := setup()
				fs := vfs.Inject(m, &vfs.FailAt{Ops: f.ops, N: f.n, Err: injected, Sticky: f.ops == vfs.OpWrite})
				_, err := mmapsnap.Write("/snap", mmapsnap.Meta{Seq: 2, ArenaSize: uint64(len(data))}, bytes.NewReader(data),
					mmapsnap.Options{FS: fs, BlockSize: mmapsnap.MinBlockSize, Workers: 2})
				if !errors.Is(err, injected) {
					t.Fatalf("Write = %v, want %v", err, injected)
				}
				names, _ := m.ReadDir("/snap")
				want := []string{mmapsnap.FileName(1)}
				if f.ops == vfs.OpSyncDir {
					// Renamed but not known durable: the caller must not
					// count on it, and it is whole if it survives.
					want = append(want, mmapsnap.FileName(2))
				}
				if fmt.Sprint(names) != fmt.Sprint(want) {
					t.Fatalf("after the failed Write, /snap holds %v, want %v", names, want)
				}
				dst := make([]byte, len(old))
				if _, err := mmapsnap.Load("/snap/"+mmapsnap.FileName(1), dst, mmapsnap.Options{FS: m}); err != nil || !bytes.Equal(dst, old) {
					t.Fatalf("older snapshot damaged: %v", err)
				}
			})
		}
	}
}

// TestLoadReadFault: an I/O error while reading is returned as such, not
// mistaken for corruption (recovery must not skip a good snapshot because a
// read failed once without saying so).
func TestLoadReadFault(t *testing.T) {
	m := newMemDir(t, "/snap")
	data := payload("orders", 3*mmapsnap.MinBlockSize, 1)
	in := mustWrite(t, m, "/snap", 1, data, mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
	for n := int64(0); n < 3; n++ {
		fs := vfs.Inject(m, &vfs.FailAt{Ops: vfs.OpRead | vfs.OpOpen, N: n, Err: vfs.ErrIO})
		_, err := mmapsnap.Load(in.Path, make([]byte, len(data)), mmapsnap.Options{FS: fs})
		if n < 2 && (!errors.Is(err, vfs.ErrIO) || mmapsnap.IsCorrupt(err)) {
			t.Fatalf("read fault %d: Load = %v", n, err)
		}
	}
}
