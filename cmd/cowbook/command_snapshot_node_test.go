package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSnapshotNowAndDump(t *testing.T) {
	addr, data, _ := startServe(t)
	if _, err := runApp(t, "order", "--addr", addr, "--id", "1", "new", "AAPL", "S", "1000", "10"); err != nil {
		t.Fatal(err)
	}
	out, err := runApp(t, "snapshot", "now", "--data", data, "--addr", addr)
	if err != nil || !strings.Contains(out, "seq 7 published") {
		t.Fatalf("snapshot now: %q %v", out, err)
	}
	ents, _ := os.ReadDir(filepath.Join(data, "snap"))
	if len(ents) != 1 {
		t.Fatalf("snap dir: %v", ents)
	}
	out, err = runApp(t, "snapshot", "dump", filepath.Join(data, "snap", ents[0].Name()))
	if err != nil || !strings.Contains(out, "seq 7 ") || !strings.Contains(out, "10 @ 1000") || !strings.Contains(out, "resting orders 1") {
		t.Fatalf("dump: %q %v", out, err)
	}
	if _, err := runApp(t, "snapshot", "dump", filepath.Join(data, "MANIFEST")); err == nil {
		t.Fatal("dump of a non-snapshot: no error")
	}
	if _, err := runApp(t, "snapshot", "now", "--data", t.TempDir()); err == nil {
		t.Fatal("snapshot now without a node: no error")
	}
}
