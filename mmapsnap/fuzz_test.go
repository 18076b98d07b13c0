package mmapsnap_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

var updateCorpus = flag.Bool("update-corpus", false, "rewrite the seed corpus in testdata/fuzz/FuzzLoad")

// fuzzSeeds are whole snapshots of several shapes in the current format; the
// fuzzer mutates them. The committed corpus also keeps the seed-* files of
// format version 1 (see version1_test.go); these are named seed-v2-*.
func fuzzSeeds(t testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	m := newMemDir(t, "/s")
	for i, c := range []struct {
		kind string
		size int
	}{{"zero", 0}, {"random", 1}, {"orders", 3*mmapsnap.MinBlockSize + 5}, {"mixed", 2 * mmapsnap.MinBlockSize}, {"random", mmapsnap.MinBlockSize + 1}} {
		in := mustWrite(t, m, "/s", uint64(i), payload(c.kind, c.size, uint64(i)), mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
		b, _ := m.Bytes(in.Path)
		seeds[fmt.Sprintf("seed-v2-%s-%d", c.kind, c.size)] = b
	}
	whole := seeds["seed-v2-orders-12293"]
	seeds["seed-v2-truncated"] = whole[:len(whole)/2]
	seeds["seed-v2-header-only"] = whole[:64]
	return seeds
}

// TestFuzzCorpus keeps testdata/fuzz/FuzzLoad in step with the format:
// with -update-corpus it rewrites the seeds.
func TestFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update-corpus to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range fuzzSeeds(t) {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzLoad feeds arbitrary bytes to Inspect, Verify and Load: no panic, an
// error or the same answer from all three, and no allocation larger than
// the file (plus, for Verify, one block of the size the header declares).
func FuzzLoad(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	const dstSize = 64 << 10
	dst := make([]byte, dstSize)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := vfs.NewMemFS()
		putFile(t, m, "/f.snap", data)
		opts := mmapsnap.Options{FS: m, Workers: 2}
		// Slack for the error strings, goroutines and the MemFS's own
		// bookkeeping; the file itself is read once and its index once.
		bound := uint64(3*len(data) + 64<<10)

		in, _, ierr := mmapsnap.Inspect("/f.snap", opts)
		before := allocated()
		_, lerr := mmapsnap.Load("/f.snap", dst, opts)
		if got := allocated() - before; got > bound {
			t.Fatalf("Load of %d bytes allocated %d", len(data), got)
		}
		vbound := bound
		if ierr == nil {
			vbound += 2 * min(uint64(in.BlockSize), in.ArenaSize)
		}
		before = allocated()
		v, verr := mmapsnap.Verify("/f.snap", opts)
		if got := allocated() - before; got > vbound {
			t.Fatalf("Verify of %d bytes allocated %d", len(data), got)
		}
		if ierr != nil && (verr == nil || (lerr == nil && in.ArenaSize <= dstSize)) {
			t.Fatalf("Inspect failed (%v) but Verify %v, Load %v", ierr, verr, lerr)
		}
		if verr == nil && v != in {
			t.Fatalf("Verify %+v, Inspect %+v", v, in)
		}
		if verr == nil && in.ArenaSize <= dstSize && lerr != nil {
			t.Fatalf("Verify passed, Load failed: %v", lerr)
		}
		if lerr == nil {
			meta, arena, err := refDecode(data)
			if err != nil || meta != in.Meta || !bytes.Equal(arena, dst[:in.ArenaSize]) {
				t.Fatalf("Load accepted what the reference reader rejects or reads otherwise: %v", err)
			}
		}
	})
}

func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}
