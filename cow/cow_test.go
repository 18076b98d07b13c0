package cow

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var stressSnapshots = flag.Int("cow.snapshots", 200, "snapshots per GOMAXPROCS setting in TestStress")

func TestSnapshotRoundTrip(t *testing.T) {
	for _, mode := range []Mode{ModeFork, ModeStopTheWorld} {
		t.Run(mode.String(), func(t *testing.T) {
			s, dir := startTest(t, "", func(o *Options) { o.Mode = mode })
			arena := allocArena(t, 3<<20+4096) // not a multiple of the huge page
			fill(arena, 1)
			want := append([]byte(nil), arena...)
			meta := Meta{Seq: 42, LayoutVersion: 7, StateChecksum: 0xfeedface12345678}
			tk, err := s.Snapshot(arena, meta)
			if err != nil {
				t.Fatal(err)
			}
			fill(arena, 2) // after the fork (or copy): must not show in the snapshot
			r := await(t, s, 30*time.Second)
			if r.ID != tk.ID || r.Seq != 42 || r.Mode != mode {
				t.Fatalf("result %+v for ticket %+v", r.Ticket, tk)
			}
			checkFile(t, r, want)
			if got := published(t, dir); len(got) != 1 {
				t.Fatalf("published %v", got)
			}
			meta.ArenaSize = int64(len(arena))
			if told, err := os.ReadFile(r.Path + ".meta"); err != nil || string(told) != fmt.Sprint(meta) {
				t.Fatalf("sink was told %q (%v), want %q", told, err, fmt.Sprint(meta))
			}
			p := s.Progress()
			if p.State != StateDone || p.Seq != 42 || p.Done != int64(len(arena)) || p.Total != p.Done || p.HelperPid != s.HelperPid() {
				t.Fatalf("progress %+v", p)
			}
			checkOnlyHelper(t, s)
		})
	}
}

func TestSnapshotRefusesWhileInFlight(t *testing.T) {
	s, _ := startTest(t, "slow", nil)
	arena := allocArena(t, 1<<20)
	if _, err := s.Snapshot(arena, Meta{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(arena, Meta{Seq: 2}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second snapshot in flight: %v, want ErrBusy", err)
	}
	if r := await(t, s, 30*time.Second); r.Err != nil {
		t.Fatal(r.Err)
	}
	if _, err := s.Snapshot(nil, Meta{}); !errors.Is(err, ErrEmptyArena) {
		t.Fatalf("empty arena: %v", err)
	}
	if _, err := s.Snapshot(arena[1:], Meta{}); !errors.Is(err, ErrUnaligned) {
		t.Fatalf("unaligned arena: %v", err)
	}
	if _, err := s.Snapshot(arena, Meta{Seq: 3}); err != nil {
		t.Fatal(err)
	}
	if r := await(t, s, 30*time.Second); r.Err != nil {
		t.Fatal(r.Err)
	}
	s.Close()
	if _, err := s.Snapshot(arena, Meta{Seq: 4}); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestStress takes snapshots while one goroutine mutates the arena at
// random and another keeps the garbage collector busy, and checks each
// snapshot byte for byte against the arena as it was at its fork.
func TestStress(t *testing.T) {
	n := *stressSnapshots
	if testing.Short() || raceEnabled {
		// The race detector slows the mutator and the checks tenfold; the
		// full count runs without it (make test runs both).
		n = min(n, 50)
	}
	for _, procs := range []int{1, 2} {
		t.Run("GOMAXPROCS="+string(rune('0'+procs)), func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
			stress(t, n, ModeFork)
		})
	}
	t.Run("stw", func(t *testing.T) { stress(t, n/4, ModeStopTheWorld) })
}

func stress(t *testing.T, n int, mode Mode) {
	s, _ := startTest(t, "", func(o *Options) { o.Mode = mode; o.RestoreHugePages = true })
	arena := allocArena(t, 4<<20)
	fill(arena, 3)
	fdsBefore := -1 // counted after the first snapshot, which may allocate the stop-the-world buffer

	var mu sync.Mutex // held by the mutator while it writes; by the test to freeze the arena
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mutations atomic.Int64
	wg.Add(2)
	go func() { // mutator: random 8-byte writes in random pages
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.Lock()
			for range 64 {
				off := rng.IntN(len(arena)/8) * 8
				v := rng.Uint64()
				for k := range 8 {
					arena[off+k] = byte(v >> (8 * k))
				}
			}
			mu.Unlock()
			mutations.Add(64)
			runtime.Gosched() // with GOMAXPROCS=1, let the supervisor run
		}
	}()
	go func() { // garbage: keeps the GC cycling while children fork
		defer wg.Done()
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
			}
			keep = append(keep, make([]byte, 64<<10))
			if len(keep) > 64 {
				keep = keep[:0]
			}
			runtime.Gosched()
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	want := make([]byte, len(arena))
	var gcs runtime.MemStats
	hrng := rand.New(rand.NewPCG(5, 6))
	for i := range n {
		mu.Lock()
		copy(want, arena)
		tk, err := s.Snapshot(arena, Meta{Seq: uint64(i + 1), Hot: randomHot(hrng, len(arena))})
		if err == nil {
			// The child has forked and streams the arena in order, which
			// takes milliseconds; write one byte in every 64th page at once,
			// so every snapshot races with a change whatever the scheduler
			// gives the mutator. A child that saw the live arena instead of
			// its frozen copy would carry these bytes.
			for off := len(arena) - 1; off >= 0; off -= 64 * 4096 {
				arena[off]++
			}
		}
		mu.Unlock()
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		r := await(t, s, 60*time.Second)
		if r.ID != tk.ID {
			t.Fatalf("result %d for ticket %d", r.ID, tk.ID)
		}
		checkFile(t, r, want)
		if i == 0 {
			fdsBefore = openFds(t)
		}
	}
	runtime.ReadMemStats(&gcs)
	if mutations.Load() == 0 || gcs.NumGC == 0 {
		t.Fatalf("the arena was not mutated (%d) or no GC ran (%d): the test proved nothing", mutations.Load(), gcs.NumGC)
	}
	if got := openFds(t); got != fdsBefore {
		t.Errorf("open descriptors %d after %d snapshots, %d before", got, n, fdsBefore)
	}
	checkOnlyHelper(t, s)
	t.Logf("%d snapshots, %d mutations, %d GCs", n, mutations.Load(), gcs.NumGC)
}

// randomHot returns up to six spans of an arena of size bytes, unaligned,
// some overlapping, some running past its end, and sometimes none: the
// child takes them out of sharing and streams its own copy in their place.
func randomHot(rng *rand.Rand, size int) []Span {
	hot := make([]Span, rng.IntN(7))
	for i := range hot {
		hot[i] = Span{Off: rng.IntN(size+size/8) - size/16, Len: rng.IntN(size / 3)}
	}
	return hot
}

// TestHotSpansPrivatized checks that a hot span stops being shared with
// the child while the child still streams, and that the rest stays shared:
// the kernel's pagemap flags each page the node maps exclusively. The
// shared part is the control that the flag is read right. A hot span the
// node never touched stays unallocated. The snapshot is still the arena at
// its fork.
func TestHotSpansPrivatized(t *testing.T) {
	s, _ := startTest(t, "slow", nil)
	arena := allocArena(t, 10<<20)
	fill(arena[:8<<20], 9) // the last 2 MiB are never touched
	if err := unix.Madvise(arena[:8<<20], unix.MADV_COLLAPSE); err != nil {
		t.Skipf("no huge pages here: %v", err)
	}
	want := make([]byte, len(arena))
	copy(want, arena[:8<<20]) // not reading the rest: a read maps it
	hot := []Span{
		{Off: 2<<20 + 100, Len: 1 << 20}, // widened to [2 MiB, 4 MiB)
		{Off: 8 << 20, Len: 2 << 20},     // untouched
	}
	if _, err := s.Snapshot(arena, Meta{Seq: 1, Hot: hot}); err != nil {
		t.Fatal(err)
	}
	pm, err := os.Open("/proc/self/pagemap")
	if err != nil {
		t.Skip(err)
	}
	defer pm.Close()
	// exclusive counts the pages of arena[off:off+n] the node maps alone
	// (pagemap bit 56).
	exclusive := func(off, n int) int {
		buf := make([]byte, 8*(n/4096))
		if _, err := pm.ReadAt(buf, int64(arenaAddr(arena)+uintptr(off))/4096*8); err != nil {
			t.Fatal(err)
		}
		c := 0
		for i := 0; i < len(buf); i += 8 {
			if binary.LittleEndian.Uint64(buf[i:])&(1<<56) != 0 {
				c++
			}
		}
		return c
	}
	const span = 2 << 20
	var inHot, outside int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if inHot, outside = exclusive(2<<20, span), exclusive(6<<20, span); inHot == span/4096 {
			break
		}
	}
	if inHot != span/4096 || outside != 0 {
		t.Fatalf("while the child streams: %d of %d hot pages are the node's alone (want all), %d of %d others (want none)",
			inHot, span/4096, outside, span/4096)
	}
	r := await(t, s, 60*time.Second)
	if r.HotErr != nil {
		t.Fatal(r.HotErr)
	}
	checkFile(t, r, want)
	in := make([]byte, span/4096)
	if err := mincore(arena[8<<20:], in); err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(in, []byte{0}); n != len(in) {
		t.Errorf("%d pages of the untouched hot span were allocated", len(in)-n)
	}
}

func TestNormalizeHot(t *testing.T) {
	for _, c := range []struct {
		in   []Span
		want []Span
	}{
		{nil, []Span{}},
		{[]Span{{Off: 10, Len: 0}, {Off: -5, Len: 3}, {Off: 100, Len: -4}}, []Span{}},
		{[]Span{{Off: 5000, Len: 10}}, []Span{{Off: 4096, Len: 4096}}},
		{[]Span{{Off: 40000, Len: 1}}, []Span{{Off: 36864, Len: 4096}}},
		{[]Span{{Off: 9000, Len: 10}, {Off: 10, Len: 10}}, []Span{{Off: 0, Len: 4096}, {Off: 8192, Len: 4096}}},
		{[]Span{{Off: 4096, Len: 4096}, {Off: 8192, Len: 1}}, []Span{{Off: 4096, Len: 8192}}},
		{[]Span{{Off: 0, Len: 20000}, {Off: 4096, Len: 10}}, []Span{{Off: 0, Len: 20480}}},
		{[]Span{{Off: 30000, Len: 1 << 20}}, []Span{{Off: 28672, Len: 40960 - 28672}}},
		{[]Span{{Off: 32768, Len: 4096}, {Off: 0, Len: 1}, {Off: 16384, Len: 1}, {Off: 8192, Len: 1}, {Off: 24576, Len: 1}},
			[]Span{{Off: 0, Len: 4096}, {Off: 8192, Len: 4096}, {Off: 16384, Len: 4096}, {Off: 24576, Len: 4096}, {Off: 32768, Len: 4096}}},
	} {
		got := normalizeHot(c.in, 40960, 4096)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("normalizeHot(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestStressSeesSharedArena is the negative control for TestStress: an
// arena mapped MAP_SHARED is not copied on write, so the child streams the
// writes made after its fork, and the same check must catch them.
func TestStressSeesSharedArena(t *testing.T) {
	if raceEnabled {
		t.Skip("timing-sensitive control; runs without the race detector")
	}
	s, _ := startTest(t, "", nil)
	const size = 4 << 20
	raw, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(raw) })
	fill(raw, 5)
	want := bytes.Clone(raw)
	if _, err := s.Snapshot(raw, Meta{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	for off := len(raw) - 1; off >= 0; off -= 64 * 4096 {
		raw[off]++
	}
	r := await(t, s, 60*time.Second)
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	got, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(got, want) {
		t.Fatal("a snapshot of a shared arena missed every write made after the fork: TestStress cannot tell a frozen view from a live one")
	}
	t.Logf("%d bytes written after the fork reached the snapshot", countDiff(got, want))
}

// TestFaults breaks each party of a snapshot in turn and checks that the
// caller keeps running, nothing is published for the failed snapshot, the
// next one succeeds, and no child or descriptor is left behind.
func TestFaults(t *testing.T) {
	const size = 8 << 20
	cases := []struct {
		name  string
		fault string
		opts  func(*Options)
		act   func(t *testing.T, s *Snapshotter, tk Ticket) // runs while the snapshot is in flight
		check func(t *testing.T, err error)
	}{
		{
			name: "helper killed mid-stream", fault: "slow",
			act: func(t *testing.T, s *Snapshotter, tk Ticket) {
				waitProgress(t, s, tk)
				syscall.Kill(s.HelperPid(), syscall.SIGKILL)
			},
			check: wantErr(ErrHelperDied),
		},
		{
			name: "child killed mid-stream", fault: "slow",
			act: func(t *testing.T, s *Snapshotter, tk Ticket) {
				waitProgress(t, s, tk)
				syscall.Kill(tk.ChildPid, syscall.SIGKILL)
			},
			check: func(t *testing.T, err error) {
				wantErr(ErrSink)(t, err)
				wantErr(errUnexpectedEOFText)(t, err)
			},
		},
		{
			name: "disk full in the helper", fault: "enospc-once",
			check: func(t *testing.T, err error) {
				wantErr(ErrSink)(t, err)
				wantErr(syscall.ENOSPC)(t, err)
			},
		},
		{
			name: "pipe closed early", fault: "close-once",
			check: wantErr(ErrSink),
		},
		{
			name: "timeout", fault: "slow",
			opts:  func(o *Options) { o.Timeout = 300 * time.Millisecond },
			check: wantErr(ErrTimeout),
		},
		{
			name: "gate refuses",
			opts: func(o *Options) {
				o.Gate = func(seq uint64) error {
					if seq == 1 {
						return errors.New("log failed")
					}
					return nil
				}
			},
			check: wantErr(ErrGate),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, dir := startTest(t, c.fault, c.opts)
			arena := allocArena(t, size)
			fill(arena, 5)
			fds := openFds(t)
			tk, err := s.Snapshot(arena, Meta{Seq: 1})
			if err != nil {
				t.Fatal(err)
			}
			if c.act != nil {
				c.act(t, s, tk)
			}
			r := await(t, s, 60*time.Second)
			if r.Err == nil {
				t.Fatalf("snapshot succeeded despite the fault: %+v", r)
			}
			c.check(t, r.Err)
			if got := published(t, dir); len(got) != 0 {
				t.Fatalf("failed snapshot published %v", got)
			}
			t.Logf("failure reported as: %v", r.Err)
			checkOnlyHelper(t, s)

			// The caller is unharmed and the next snapshot succeeds.
			fill(arena, 6)
			want := append([]byte(nil), arena...)
			waitReady(t, s)
			if _, err := s.Snapshot(arena, Meta{Seq: 2}); err != nil {
				t.Fatal(err)
			}
			r = await(t, s, 60*time.Second)
			checkFile(t, r, want)
			checkOnlyHelper(t, s)
			if got := openFds(t); got != fds {
				t.Errorf("open descriptors %d, %d before", got, fds)
			}
		})
	}
}

var errUnexpectedEOFText = errors.New("unexpected EOF")

// wantErr checks errors.Is, or, for errUnexpectedEOFText, the message: the
// helper's error crosses a process boundary as text.
func wantErr(target error) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		if target == errUnexpectedEOFText {
			if err == nil || !containsText(err.Error(), target.Error()) {
				t.Fatalf("error %v does not mention %q", err, target)
			}
			return
		}
		if !errors.Is(err, target) {
			t.Fatalf("error %v, want %v", err, target)
		}
	}
}

func containsText(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func waitProgress(t *testing.T, s *Snapshotter, tk Ticket) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		p := s.Progress()
		if p.ID == tk.ID && p.Done > 0 && p.State == StateReceiving {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress: %+v", p)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestHelperRestartsWhenIdle(t *testing.T) {
	s, _ := startTest(t, "", nil)
	old := s.HelperPid()
	syscall.Kill(old, syscall.SIGKILL)
	deadline := time.Now().Add(20 * time.Second)
	for s.HelperPid() == old || !s.Ready() {
		if time.Now().After(deadline) {
			t.Fatal("helper not restarted")
		}
		time.Sleep(time.Millisecond)
	}
	arena := allocArena(t, 1<<20)
	fill(arena, 8)
	want := append([]byte(nil), arena...)
	if _, err := s.Snapshot(arena, Meta{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	checkFile(t, await(t, s, 30*time.Second), want)
	checkOnlyHelper(t, s)
}

// TestCloseFinishesSnapshotInFlight: the shutdown snapshot must complete
// even though Close is called right after it starts.
func TestCloseFinishesSnapshotInFlight(t *testing.T) {
	s, _ := startTest(t, "slow", nil)
	arena := allocArena(t, 4<<20)
	fill(arena, 4)
	want := append([]byte(nil), arena...)
	if _, err := s.Snapshot(arena, Meta{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case r := <-s.Results():
		checkFile(t, r, want)
	default:
		t.Fatal("Close returned without the result of the snapshot in flight")
	}
	if kids := children(t); len(kids) != 0 {
		t.Fatalf("children %v left after Close", kids)
	}
}
