package mmapsnap_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
)

// TestRoundTrip writes payloads of many sizes and kinds and checks that Load
// (mapped from a real file and read from MemFS), Verify, Inspect and an
// independent reference reader all agree on the bytes and the metadata.
func TestRoundTrip(t *testing.T) {
	const bs = mmapsnap.MinBlockSize
	sizes := []int{0, 1, 17, bs - 1, bs, bs + 1, 2 * bs, 3*bs + 17, 7*bs - 1, 16 * bs}
	kinds := []string{"zero", "random", "orders", "mixed"}
	for _, kind := range kinds {
		for _, size := range sizes {
			for _, workers := range []int{1, 3} {
				t.Run(fmt.Sprintf("%s/size=%d/workers=%d", kind, size, workers), func(t *testing.T) {
					data := payload(kind, size, uint64(size))
					roundTrip(t, data, mmapsnap.Options{BlockSize: bs, Workers: workers})
				})
			}
		}
	}
	t.Run("default-block/orders", func(t *testing.T) {
		data := payload("orders", 5*mmapsnap.DefaultBlockSize/2+3, 9)
		roundTrip(t, data, mmapsnap.Options{})
	})
}

func roundTrip(t *testing.T, data []byte, opts mmapsnap.Options) {
	t.Helper()
	seq := uint64(len(data)) + 1
	check := func(t *testing.T, fs vfs.FS, in mmapsnap.Info, file []byte) {
		t.Helper()
		if in.Seq != seq || in.ArenaSize != uint64(len(data)) || in.LayoutVersion != 3 || in.StateChecksum != seq*31 {
			t.Fatalf("Info meta = %+v", in.Meta)
		}
		if in.FileBytes != int64(len(file)) {
			t.Fatalf("Info.FileBytes = %d, file has %d", in.FileBytes, len(file))
		}
		// dst is longer than the arena: the tail must be left alone.
		dst := bytes.Repeat([]byte{0xA5}, len(data)+100)
		o := opts
		o.FS = fs
		got, err := mmapsnap.Load(in.Path, dst, o)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if !bytes.Equal(dst[:len(data)], data) {
			t.Fatalf("Load: arena differs")
		}
		if !bytes.Equal(dst[len(data):], bytes.Repeat([]byte{0xA5}, 100)) {
			t.Fatalf("Load wrote past ArenaSize")
		}
		if got != in {
			t.Fatalf("Load Info = %+v, Write said %+v", got, in)
		}
		if v, err := mmapsnap.Verify(in.Path, o); err != nil || v != in {
			t.Fatalf("Verify = %+v, %v", v, err)
		}
		insp, blocks, err := mmapsnap.Inspect(in.Path, o)
		if err != nil || insp != in || len(blocks) != in.Blocks {
			t.Fatalf("Inspect = %+v, %d blocks, %v", insp, len(blocks), err)
		}
		var raw int
		for _, b := range blocks {
			raw += int(b.RawBytes)
		}
		if raw != len(data) {
			t.Fatalf("Inspect blocks hold %d raw bytes, want %d", raw, len(data))
		}
		meta, arena, err := refDecode(file)
		if err != nil {
			t.Fatalf("reference reader: %v", err)
		}
		if meta != in.Meta || !bytes.Equal(arena, data) {
			t.Fatalf("reference reader disagrees: %+v", meta)
		}
		if _, err := mmapsnap.Load(in.Path, make([]byte, max(0, len(data)-1)), o); err == nil && len(data) > 0 {
			t.Fatalf("Load into a too-small destination succeeded")
		}
	}
	t.Run("os", func(t *testing.T) {
		dir := t.TempDir()
		in := mustWrite(t, vfs.OS, dir, seq, data, opts)
		check(t, vfs.OS, in, readOS(t, in.Path))
	})
	t.Run("memfs", func(t *testing.T) {
		m := newMemDir(t, "/snap")
		in := mustWrite(t, m, "/snap", seq, data, opts)
		file, _ := m.Bytes(in.Path)
		check(t, m, in, file)
	})
}

// TestWriteShortInput: a reader that ends early or fails publishes nothing.
func TestWriteShortInput(t *testing.T) {
	m := newMemDir(t, "/snap")
	data := payload("orders", 10*mmapsnap.MinBlockSize, 1)
	for _, n := range []int{0, 1, mmapsnap.MinBlockSize, len(data) - 1} {
		_, err := mmapsnap.Write("/snap", mmapsnap.Meta{Seq: 5, ArenaSize: uint64(len(data))}, bytes.NewReader(data[:n]),
			mmapsnap.Options{FS: m, BlockSize: mmapsnap.MinBlockSize, Workers: 2})
		if err == nil {
			t.Fatalf("Write with %d of %d input bytes succeeded", n, len(data))
		}
		if files := m.Files(); len(files) != 0 {
			t.Fatalf("after a failed Write: %v", files)
		}
	}
}

func TestWriteRejectsBadBlockSize(t *testing.T) {
	m := newMemDir(t, "/snap")
	for _, bs := range []int{1, mmapsnap.MinBlockSize - 1, mmapsnap.MaxBlockSize + 1} {
		if _, err := mmapsnap.Write("/snap", mmapsnap.Meta{Seq: 1}, bytes.NewReader(nil), mmapsnap.Options{FS: m, BlockSize: bs}); err == nil {
			t.Fatalf("block size %d accepted", bs)
		}
	}
}

func TestFileName(t *testing.T) {
	for _, seq := range []uint64{0, 1, 42, 1<<64 - 1} {
		name := mmapsnap.FileName(seq)
		got, ok := mmapsnap.ParseFileName(name)
		if !ok || got != seq {
			t.Fatalf("ParseFileName(%q) = %d, %v", name, got, ok)
		}
	}
	if mmapsnap.FileName(9) >= mmapsnap.FileName(10) {
		t.Fatalf("names do not sort by sequence")
	}
	for _, bad := range []string{"snap-1.snap", "snap-00000000000000000001.snap.tmp", "x", "snap-0000000000000000000a.snap"} {
		if _, ok := mmapsnap.ParseFileName(bad); ok {
			t.Fatalf("ParseFileName(%q) accepted", bad)
		}
	}
}

// TestWriteBoundedMemory: Write streams; it holds 2×Workers blocks, not the
// arena.
func TestWriteBoundedMemory(t *testing.T) {
	const arena = 32 << 20
	const bs = 64 << 10
	src := &patternReader{left: arena}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	in, err := mmapsnap.Write(t.TempDir(), mmapsnap.Meta{Seq: 1, ArenaSize: arena}, src, mmapsnap.Options{BlockSize: bs, Workers: 2})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// 4 slots of input and output buffers, the index, and slack.
	if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
		t.Fatalf("Write of a %d-byte arena allocated %d bytes", arena, got)
	}
	if in.Blocks != arena/bs {
		t.Fatalf("Info %+v", in)
	}
}

// patternReader yields left bytes of an order-like repeating pattern without
// holding them.
type patternReader struct{ left, pos int }

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.left)
	for i := range n {
		x := r.pos + i
		p[i] = byte(x/64) ^ byte(x%64*3)
	}
	r.left -= n
	r.pos += n
	return n, nil
}

// TestWriteHugeClaimedSize: an ArenaSize far beyond the input fails on the
// short read without allocating for the claimed size.
func TestWriteHugeClaimedSize(t *testing.T) {
	m := newMemDir(t, "/snap")
	_, err := mmapsnap.Write("/snap", mmapsnap.Meta{Seq: 1, ArenaSize: 1 << 60}, bytes.NewReader(make([]byte, 10000)),
		mmapsnap.Options{FS: m, BlockSize: mmapsnap.MinBlockSize})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Write = %v, want io.ErrUnexpectedEOF", err)
	}
	if files := m.Files(); len(files) != 0 {
		t.Fatalf("after a failed Write: %v", files)
	}
}
