package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEveryBenchTakesProfilesAndData(t *testing.T) {
	onDisk := map[string]bool{"wal": true, "recovery": true, "e2e": true, "snapshot": true}
	for _, b := range benchCommand().Subcommands {
		if b.Name == "all" {
			continue
		}
		names := map[string]bool{}
		for _, f := range b.Flags {
			for _, n := range f.Names() {
				names[n] = true
			}
		}
		for _, want := range []string{"json", "cpuprofile", "memprofile", "trace"} {
			if !names[want] {
				t.Errorf("bench %s has no --%s", b.Name, want)
			}
		}
		if onDisk[b.Name] && !names["data"] {
			t.Errorf("bench %s writes files but has no --data", b.Name)
		}
	}
}

// A benchmark pointed at a data directory that does not exist yet creates
// it, and a whole-run profile is written where asked.
func TestBenchCreatesDataAndWritesProfile(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "not", "yet")
	prof := filepath.Join(dir, "cpu.prof")
	if _, err := runApp(t, "bench", "recovery", "--data", data, "--orders", "200", "--tail", "200", "--runs", "1", "--json", "--cpuprofile", prof); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Fatalf("profile %s: %v", prof, err)
	}
}
