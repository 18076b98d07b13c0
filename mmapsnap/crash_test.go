package mmapsnap_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

const crashDir = "/data/snap"

// crashWorld is the fixed scenario: snapshots 10 and 20 are durable; the
// publish under test writes snapshot 30 and then retains the newest two.
type crashWorld struct {
	arenas map[uint64][]byte
}

func newCrashWorld() *crashWorld {
	const bs = mmapsnap.MinBlockSize
	return &crashWorld{arenas: map[uint64][]byte{
		10: payload("orders", 3*bs+100, 10),
		20: payload("mixed", 2*bs+7, 20),
		30: payload("orders", 5*bs-3, 30),
	}}
}

func (w *crashWorld) base(t *testing.T) *vfs.MemFS {
	m := newMemDir(t, crashDir)
	if err := m.SyncDir("/data"); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{10, 20} {
		mustWrite(t, m, crashDir, seq, w.arenas[seq], mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
	}
	return m
}

// publish writes snapshot 30 and retains two; wrote reports whether Write
// returned nil (the snapshot is then promised durable).
func (w *crashWorld) publish(fs vfs.FS) (wrote bool, err error) {
	data := w.arenas[30]
	opts := mmapsnap.Options{FS: fs, BlockSize: mmapsnap.MinBlockSize, Workers: 2}
	if _, err := mmapsnap.Write(crashDir, mmapsnap.Meta{Seq: 30, ArenaSize: uint64(len(data))}, bytes.NewReader(data), opts); err != nil {
		return false, err
	}
	_, err = mmapsnap.Retain(crashDir, 2, opts)
	return true, err
}

// check inspects the filesystem a crash left and describes every broken
// promise: a snapshot that verifies with the wrong bytes, no valid
// snapshot, a lost snapshot that Write had acknowledged, or neither the old
// set {10, 20} nor the new set {20, 30} whole.
func (w *crashWorld) check(fs vfs.FS, wrote bool) []string {
	var problems []string
	opts := mmapsnap.Options{FS: fs, Workers: 2}
	list, err := mmapsnap.List(crashDir, opts)
	if err != nil {
		return []string{fmt.Sprintf("List: %v", err)}
	}
	whole := map[uint64]bool{}
	for _, in := range list {
		want, known := w.arenas[in.Seq]
		if in.Err != nil {
			continue
		}
		dst := make([]byte, in.ArenaSize)
		if _, err := mmapsnap.Load(in.Path, dst, opts); err != nil {
			continue
		}
		if !known || !bytes.Equal(dst, want) {
			problems = append(problems, fmt.Sprintf("snapshot %d loads whole but holds the wrong bytes", in.Seq))
			continue
		}
		whole[in.Seq] = true
	}
	newest, _, err := mmapsnap.Newest(crashDir, opts)
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("no valid snapshot: %v", err))
	case newest.Seq == 30:
		if !whole[20] {
			problems = append(problems, "new set incomplete: 30 without 20")
		}
	case newest.Seq == 20:
		if wrote {
			problems = append(problems, "Write returned nil but snapshot 30 is not whole after the crash")
		}
		if !whole[10] {
			problems = append(problems, "old set incomplete: 20 without 10")
		}
	default:
		problems = append(problems, fmt.Sprintf("newest valid snapshot is %d", newest.Seq))
	}
	return problems
}

// crashMatrix stops the publish at every filesystem operation in turn (the
// operation fails, then the power goes), plus once after it completes, and
// checks what each crash leaves, dropping all unsynced data and, with a few
// seeds, keeping random torn sectors of it. wrap puts a wrapper (SkipSync for
// the negative controls) between the publish and the crashable filesystem.
func crashMatrix(t *testing.T, wrap func(vfs.FS) vfs.FS) []string {
	w := newCrashWorld()
	counter := &vfs.FailAt{Ops: vfs.OpAll, N: -1}
	if _, err := w.publish(vfs.Inject(wrap(w.base(t)), counter)); err != nil {
		t.Fatalf("reference publish: %v", err)
	}
	ops := counter.Seen()
	if ops < 10 {
		t.Fatalf("publish made only %d operations", ops)
	}
	var problems []string
	for k := int64(0); k <= ops; k++ {
		m := w.base(t)
		fail := &vfs.FailAt{Ops: vfs.OpAll, N: k, Err: vfs.ErrIO}
		wrote, err := w.publish(vfs.Inject(wrap(m), fail))
		if k < ops && err == nil {
			t.Fatalf("op %d of %d failed but publish returned nil", k, ops)
		}
		if !wrote {
			// A failed Write cleans up after itself on the live filesystem.
			for _, f := range m.Files() {
				if strings.Contains(f, ".tmp") {
					problems = append(problems, fmt.Sprintf("op %d failed: temporary file left: %s", k, f))
				}
			}
		}
		crashes := []vfs.CrashOptions{{}}
		for seed := int64(1); seed <= 3; seed++ {
			crashes = append(crashes, vfs.CrashOptions{Rand: rand.New(rand.NewSource(seed*1000 + k))})
		}
		for i, co := range crashes {
			for _, p := range w.check(m.Crash(co), wrote) {
				problems = append(problems, fmt.Sprintf("crash after op %d of %d (variant %d, publish err %v): %s", k, ops, i, err, p))
			}
		}
	}
	return problems
}

func TestCrashDuringPublish(t *testing.T) {
	problems := crashMatrix(t, func(fs vfs.FS) vfs.FS { return fs })
	for _, p := range problems {
		t.Error(p)
	}
}

// TestCrashNegativeControls: without the file fsync, or without the
// directory fsync, the same matrix must find a broken promise; if it did
// not, TestCrashDuringPublish would prove nothing.
func TestCrashNegativeControls(t *testing.T) {
	for _, c := range []struct {
		name string
		ops  vfs.Op
	}{{"no-file-fsync", vfs.OpSync}, {"no-dir-fsync", vfs.OpSyncDir}} {
		t.Run(c.name, func(t *testing.T) {
			problems := crashMatrix(t, func(fs vfs.FS) vfs.FS { return vfs.SkipSync(fs, c.ops) })
			if len(problems) == 0 {
				t.Fatalf("skipping %v went unnoticed: the crash test is blind", c.ops)
			}
			t.Logf("detected as expected (%d problems), e.g. %s", len(problems), problems[0])
		})
	}
}
