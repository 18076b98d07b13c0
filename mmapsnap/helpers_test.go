package mmapsnap_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
	"github.com/pierrec/lz4/v4"
	"github.com/zeebo/xxh3"
)

// payload returns n bytes of the named kind, the same for the same seed.
func payload(kind string, n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	switch kind {
	case "zero":
	case "random":
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	case "orders":
		perf.ArenaImage(b, seed)
	case "mixed": // alternating 1 KiB runs of noise and of repetition
		for i := range b {
			if i/1024%2 == 0 {
				b[i] = byte(r.Uint32())
			} else {
				b[i] = byte(i / 64)
			}
		}
	default:
		panic("unknown payload kind " + kind)
	}
	return b
}

func mustWrite(t testing.TB, fs vfs.FS, dir string, seq uint64, data []byte, opts mmapsnap.Options) mmapsnap.Info {
	t.Helper()
	opts.FS = fs
	in, err := mmapsnap.Write(dir, mmapsnap.Meta{Seq: seq, LayoutVersion: 3, ArenaSize: uint64(len(data)), StateChecksum: seq * 31}, bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Write seq %d: %v", seq, err)
	}
	return in
}

func newMemDir(t testing.TB, dir string) *vfs.MemFS {
	t.Helper()
	m := vfs.NewMemFS()
	if err := m.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

func putFile(t testing.TB, fs vfs.FS, name string, data []byte) {
	t.Helper()
	f, err := vfs.Create(fs, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// refDecode is a deliberately simple, sequential reader of the format as
// doc.go specifies it, written independently of the package: header, blocks
// walked front to back, index, footer. It reads both versions: 1 (16-byte
// entries, CRC32C of the raw bytes) and 2 (20-byte entries, XXH3-64 of the
// raw bytes). Tests compare the package's Load with it.
func refDecode(file []byte) (meta mmapsnap.Meta, arena []byte, err error) {
	le := binary.LittleEndian
	tab := crc32.MakeTable(crc32.Castagnoli)
	if len(file) < 96 || string(file[:8]) != "COWSNAP\x00" {
		return meta, nil, fmt.Errorf("bad header")
	}
	version := le.Uint32(file[8:])
	var ent uint64
	var rawSum func(hdr, out []byte) bool
	switch version {
	case 1:
		ent = 16
		rawSum = func(hdr, out []byte) bool { return crc32.Checksum(out, tab) == le.Uint32(hdr[12:]) }
	case 2:
		ent = 20
		rawSum = func(hdr, out []byte) bool { return xxh3.Hash(out) == le.Uint64(hdr[12:]) }
	default:
		return meta, nil, fmt.Errorf("version %d", version)
	}
	if crc32.Checksum(file[:60], tab) != le.Uint32(file[60:]) {
		return meta, nil, fmt.Errorf("header crc")
	}
	meta = mmapsnap.Meta{LayoutVersion: le.Uint32(file[12:]), Seq: le.Uint64(file[16:]), ArenaSize: le.Uint64(file[24:]), StateChecksum: le.Uint64(file[32:])}
	bs := uint64(le.Uint32(file[40:]))
	foot := file[len(file)-32:]
	if string(foot[24:]) != "SNAPEND\x00" {
		return meta, nil, fmt.Errorf("no end magic")
	}
	idxOff, count := le.Uint64(foot[0:]), le.Uint64(foot[8:])
	if idxOff+count*ent != uint64(len(file)-32) {
		return meta, nil, fmt.Errorf("index position")
	}
	sum := crc32.Update(0, tab, file[:64])
	sum = crc32.Update(sum, tab, file[idxOff:len(file)-12])
	if sum != le.Uint32(foot[20:]) {
		return meta, nil, fmt.Errorf("footer crc")
	}
	if (meta.ArenaSize+bs-1)/bs != count {
		return meta, nil, fmt.Errorf("block count")
	}
	pos := uint64(64)
	for i := uint64(0); i < count; i++ {
		hdr := file[pos : pos+ent]
		if !bytes.Equal(hdr, file[idxOff+ent*i:idxOff+ent*i+ent]) {
			return meta, nil, fmt.Errorf("block %d header", i)
		}
		stored, raw := uint64(le.Uint32(hdr[0:])), uint64(le.Uint32(hdr[4:]))
		p := file[pos+ent : pos+ent+stored]
		if crc32.Checksum(p, tab) != le.Uint32(hdr[8:]) {
			return meta, nil, fmt.Errorf("block %d stored crc", i)
		}
		out := make([]byte, raw)
		if stored == raw {
			copy(out, p)
		} else if n, err := lz4.UncompressBlock(p, out); err != nil || uint64(n) != raw {
			return meta, nil, fmt.Errorf("block %d: %v", i, err)
		}
		if !rawSum(hdr, out) {
			return meta, nil, fmt.Errorf("block %d raw checksum", i)
		}
		arena = append(arena, out...)
		pos += ent + stored
	}
	if pos != idxOff || uint64(len(arena)) != meta.ArenaSize {
		return meta, nil, fmt.Errorf("sizes")
	}
	return meta, arena, nil
}

func readOS(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vfsCrashNone drops every unsynced write.
var vfsCrashNone = vfs.CrashOptions{}
