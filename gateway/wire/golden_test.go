package wire

import (
	"encoding/hex"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.txt from the encoder")

// TestGoldenFrames pins the wire format: one frame of every type, encoded,
// must match testdata/golden.txt byte for byte. A failure here means the
// protocol changed: bump Version and update docs/protocol.md, then rerun
// with -update.
func TestGoldenFrames(t *testing.T) {
	var sb strings.Builder
	for _, f := range sampleFrames() {
		b, err := AppendFrame(nil, &f)
		if err != nil {
			t.Fatal(err)
		}
		sb.WriteString(f.Type.String() + " " + hex.EncodeToString(b) + "\n")
	}
	const path = "testdata/golden.txt"
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Fatalf("encoding differs from %s:\n got:\n%s\nwant:\n%s", path, sb.String(), want)
	}
}
