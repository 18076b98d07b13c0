package cow

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"golang.org/x/sys/unix"
)

// The test binary is also the helper: Start re-execs it with
// COW_TEST_HELPER set, and TestMain serves snapshots instead of running
// tests, the way the product re-execs itself as `cowbook __cow-helper`.
const (
	envHelper = "COW_TEST_HELPER"
	envDir    = "COW_TEST_DIR"
	envFault  = "COW_TEST_FAULT"
)

func TestMain(m *testing.M) {
	if os.Getenv(envHelper) != "" {
		os.Exit(testHelperMain())
	}
	code := m.Run()
	if testExeDir != "" {
		os.RemoveAll(testExeDir)
	}
	os.Exit(code)
}

// testHelperMain runs the helper with a raw file sink and, by envFault, one
// injected failure:
//
//	enospc-once   the first snapshot's third write fails with ENOSPC
//	close-once    the first snapshot's sink reads half the arena, then fails (the pipe closes early)
//	slow          reads of snapshot seq 1 sleep (≈ 1 s per 8 MiB), so a test can act mid-stream
//	discard       the sink checksums and discards the arena (no file, no fsync): for counting runs
//	mmapsnap      the node's sink, MmapsnapSink, keeping the newest 3 files
//	mmapsnap-keepall  the same, keeping every file
func testHelperMain() int {
	dir := os.Getenv(envDir)
	fs := vfs.OS
	fault := os.Getenv(envFault)
	if fault == "enospc-once" {
		fs = vfs.Inject(vfs.OS, &vfs.FailAt{Ops: vfs.OpWrite, N: 2, Err: vfs.ErrNoSpace})
	}
	sink := RawFileSink(fs, dir, 0)
	switch fault {
	case "mmapsnap":
		return serveOrFail(MmapsnapSink(dir, 3, mmapsnap.Options{Workers: 1}))
	case "mmapsnap-keepall":
		return serveOrFail(MmapsnapSink(dir, 0, mmapsnap.Options{Workers: 1}))
	}
	calls := 0
	wrapped := func(m Meta, r io.Reader) (Published, error) {
		calls++
		switch {
		case fault == "close-once" && calls == 1:
			if _, err := io.CopyN(io.Discard, r, m.ArenaSize/2); err != nil {
				return Published{}, err
			}
			return Published{}, errors.New("injected: sink gave up half way")
		case fault == "slow" && m.Seq == 1:
			r = slowReader{r}
		case fault == "discard":
			n, err := io.Copy(io.Discard, r)
			return Published{FileBytes: n}, err
		}
		pub, err := sink(m, r)
		if err == nil { // record what the sink was told, for TestSnapshotRoundTrip
			err = os.WriteFile(pub.Path+".meta", []byte(fmt.Sprint(m)), 0o644)
		}
		return pub, err
	}
	return serveOrFail(wrapped)
}

func serveOrFail(sink Sink) int {
	if err := ServeHelper(sink); err != nil {
		fmt.Fprintln(os.Stderr, "test helper:", err)
		return 1
	}
	return 0
}

type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(2 * time.Millisecond)
	if len(p) > 16<<10 {
		p = p[:16<<10]
	}
	return s.r.Read(p)
}

// startTest starts a Snapshotter whose helper writes raw files into a
// temporary directory, and closes it at the end of the test.
func startTest(t testing.TB, fault string, mutate func(*Options)) (*Snapshotter, string) {
	t.Helper()
	dir := t.TempDir()
	opts := Options{
		HelperPath: "/proc/self/exe",
		HelperArgs: []string{"-test.run=^$"},
		HelperEnv:  []string{envHelper + "=1", envDir + "=" + dir, envFault + "=" + fault},
		Timeout:    30 * time.Second,
	}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// allocArena maps an arena the way the engine does: anonymous, private,
// no swap reservation, huge pages requested, 2 MiB aligned.
func allocArena(t testing.TB, size int) []byte {
	t.Helper()
	const huge = 2 << 20
	raw, err := unix.Mmap(-1, 0, size+huge, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		t.Fatal(err)
	}
	off := int(-arenaAddr(raw) & (huge - 1))
	arena := raw[off : off+size : off+size]
	_ = unix.Madvise(arena, unix.MADV_HUGEPAGE)
	t.Cleanup(func() { unix.Munmap(raw) })
	return arena
}

func fill(b []byte, seed uint64) {
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 0; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i], b[i+1], b[i+2], b[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		b[i+4], b[i+5], b[i+6], b[i+7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
	}
}

func crc(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// await returns the next Result or fails the test after d.
func await(t testing.TB, s *Snapshotter, d time.Duration) Result {
	t.Helper()
	select {
	case r := <-s.Results():
		return r
	case <-time.After(d):
		t.Fatalf("no result after %v (progress %+v)", d, s.Progress())
		return Result{}
	}
}

// waitReady waits until the helper is (re)started.
func waitReady(t testing.TB, s *Snapshotter) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !s.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("helper did not restart")
		}
		time.Sleep(time.Millisecond)
	}
}

// checkFile verifies that the published file holds exactly want.
func checkFile(t testing.TB, r Result, want []byte) {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("snapshot %d: %v", r.ID, r.Err)
	}
	got, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("snapshot %d seq %d: %d bytes differ from the arena at its fork (first at offset %d of %d)", r.ID, r.Seq, countDiff(got, want), i, len(want))
	}
	if r.Checksum != crc(want) || r.Bytes != int64(len(want)) || r.FileBytes != int64(len(want)) {
		t.Fatalf("snapshot %d: checksum %08x bytes %d file %d, want %08x %d", r.ID, r.Checksum, r.Bytes, r.FileBytes, crc(want), len(want))
	}
}

func countDiff(a, b []byte) int {
	n := 0
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			n++
		}
	}
	return n + max(len(a), len(b)) - min(len(a), len(b))
}

// published lists the published snapshots in dir.
func published(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".arena") {
			out = append(out, e.Name())
		}
	}
	return out
}

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory being read
}

// children lists this process's child pids (zombies included) from every
// thread's /proc children file.
func children(t testing.TB) []int {
	t.Helper()
	files, _ := filepath.Glob("/proc/self/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(w); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// checkOnlyHelper fails if any child other than the helper exists.
func checkOnlyHelper(t testing.TB, s *Snapshotter) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		kids := children(t)
		extra := false
		for _, k := range kids {
			if k != s.HelperPid() {
				extra = true
			}
		}
		if !extra {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("children %v, want only the helper %d", kids, s.HelperPid())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
