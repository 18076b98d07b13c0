package mmapsnap_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/mmapsnap"
)

// version1Files returns the whole snapshots among the committed seed corpus
// written in format version 1 (before the raw checksum became XXH3-64),
// keyed by name. They are kept so that this reader keeps reading them.
func version1Files(t *testing.T) map[string][]byte {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzLoad")
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, n := range names {
		raw, err := os.ReadFile(filepath.Join(dir, n.Name()))
		if err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
		body, ok2 := strings.CutSuffix(body, ")\n")
		if !ok || !ok2 {
			t.Fatalf("%s: not a corpus file", n.Name())
		}
		s, err := strconv.Unquote(body)
		if err != nil {
			t.Fatalf("%s: %v", n.Name(), err)
		}
		b := []byte(s)
		if len(b) >= 96 && b[8] == 1 && bytes.HasSuffix(b, []byte("SNAPEND\x00")) {
			files[n.Name()] = b
		}
	}
	return files
}

// TestReadsVersion1 loads the committed version-1 snapshots: Load, Verify
// and Inspect accept them and agree with the reference reader, and damage
// to them is still detected.
func TestReadsVersion1(t *testing.T) {
	files := version1Files(t)
	if len(files) < 5 {
		t.Fatalf("found %d whole version-1 snapshots in the corpus, want the 5 committed", len(files))
	}
	for name, file := range files {
		meta, arena, err := refDecode(file)
		if err != nil {
			t.Fatalf("%s: reference reader: %v", name, err)
		}
		if verr, lerr := loadBytes(t, file, arena); verr != nil || lerr != nil {
			t.Fatalf("%s: Verify %v, Load %v", name, verr, lerr)
		}
		m := newMemDir(t, "/c")
		putFile(t, m, "/c/f.snap", file)
		in, _, err := mmapsnap.Inspect("/c/f.snap", mmapsnap.Options{FS: m})
		if err != nil || in.FormatVersion != 1 || in.Meta != meta {
			t.Fatalf("%s: Inspect %+v, %v", name, in, err)
		}
		stride := 7
		if raceEnabled || testing.Short() {
			stride = 61
		}
		bad := make([]byte, len(file))
		for bit := 0; bit < 8*len(file); bit += stride {
			copy(bad, file)
			bad[bit/8] ^= 1 << (bit % 8)
			verr, lerr := loadBytesWorkers(t, bad, arena, 1)
			if !mmapsnap.IsCorrupt(verr) || !mmapsnap.IsCorrupt(lerr) {
				t.Fatalf("%s: bit %d flipped: Verify %v, Load %v", name, bit, verr, lerr)
			}
		}
	}
}
