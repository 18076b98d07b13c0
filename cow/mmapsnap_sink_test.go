package cow

import (
	"bytes"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cowbook/cowbook/mmapsnap"
)

// TestMmapsnapEndToEnd takes snapshots through the node's sink while the
// arena is being written, loads each published file back with
// mmapsnap.Load, and compares it byte for byte with the arena at its fork;
// the retention keeps the newest three.
func TestMmapsnapEndToEnd(t *testing.T) {
	for _, mode := range []Mode{ModeFork, ModeStopTheWorld} {
		t.Run(mode.String(), func(t *testing.T) {
			s, dir := startTest(t, "mmapsnap", func(o *Options) { o.Mode = mode; o.RestoreHugePages = true })
			arena := allocArena(t, 4<<20+4096)
			fill(arena, 1)
			var mu sync.Mutex
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // mutator
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					arena[(i*4099)%len(arena)] = byte(i)
					arena[(i*65537)%len(arena)] ^= byte(i >> 3)
					mu.Unlock()
				}
			}()
			defer func() { close(stop); wg.Wait() }()

			want := make([]byte, len(arena))
			got := allocArena(t, len(arena))
			n := 8
			if raceEnabled {
				n = 4 // enough for the retention to remove one
			}
			for i := range n {
				meta := Meta{Seq: uint64(100 + i), LayoutVersion: 3, StateChecksum: uint64(i) * 0x9e3779b97f4a7c15}
				mu.Lock()
				copy(want, arena)
				_, err := s.Snapshot(arena, meta)
				mu.Unlock()
				if err != nil {
					t.Fatal(err)
				}
				r := await(t, s, time.Minute)
				if r.Err != nil {
					t.Fatal(r.Err)
				}
				if r.Checksum != crc(want) {
					t.Fatalf("snapshot %d: helper checksum %08x, want %08x", i, r.Checksum, crc(want))
				}
				clear(got)
				info, err := mmapsnap.Load(r.Path, got, mmapsnap.Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("snapshot %d: loaded arena differs from the arena at its fork in %d bytes", i, countDiff(got, want))
				}
				if info.Seq != meta.Seq || info.LayoutVersion != meta.LayoutVersion || info.StateChecksum != meta.StateChecksum ||
					info.ArenaSize != uint64(len(arena)) || info.FileBytes != r.FileBytes || info.Path != r.Path {
					t.Fatalf("snapshot %d: file %+v, result %+v, meta %+v", i, info, r, meta)
				}
			}
			infos, err := mmapsnap.List(dir, mmapsnap.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(infos) != 3 || filepath.Base(infos[0].Path) != mmapsnap.FileName(uint64(100+n-1)) { // newest first
				t.Fatalf("kept %d snapshots, newest %v; want the newest 3", len(infos), infos)
			}
			checkOnlyHelper(t, s)
		})
	}
}

// TestMmapsnapSinkShortStream: a stream that ends early publishes nothing.
func TestMmapsnapSinkShortStream(t *testing.T) {
	dir := t.TempDir()
	sink := MmapsnapSink(dir, 2, mmapsnap.Options{})
	body := &bodyReader{r: bytes.NewReader(make([]byte, 1000)), left: 4096, done: new(counter)}
	if _, err := sink(Meta{Seq: 1, ArenaSize: 4096}, body); err == nil {
		t.Fatal("short stream published")
	}
	infos, _ := mmapsnap.List(dir, mmapsnap.Options{})
	if len(infos) != 0 {
		t.Fatalf("published %v", infos)
	}
	if _, _, err := mmapsnap.Newest(dir, mmapsnap.Options{}); !errors.Is(err, mmapsnap.ErrNotFound) {
		t.Fatalf("after a short stream, Newest: %v, want ErrNotFound", err)
	}
}

type counter struct{ n uint64 }

func (c *counter) Add(d uint64) uint64 { c.n += d; return c.n }
