package perf

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStartProfilesWritesEachFile(t *testing.T) {
	dir := t.TempDir()
	p := Profiles{
		CPU:   filepath.Join(dir, "cpu.pprof"),
		Mem:   filepath.Join(dir, "mem.pprof"),
		Trace: filepath.Join(dir, "trace.out"),
	}
	stop, err := StartProfiles(p)
	if err != nil {
		t.Fatal(err)
	}
	var keep [][]byte
	for i := 0; i < 1000; i++ {
		keep = append(keep, make([]byte, 4096))
	}
	_ = busyLoop(20_000_000)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal("second stop:", err)
	}
	_ = keep
	// pprof files are gzipped protobufs; the trace starts with its header.
	for _, name := range []string{p.CPU, p.Mem} {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s is not gzip: %v", name, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || len(raw) < 100 {
			t.Fatalf("%s: %d bytes, %v", name, len(raw), err)
		}
	}
	tr, err := os.ReadFile(p.Trace)
	if err != nil || !strings.HasPrefix(string(tr), "go 1.") {
		t.Fatalf("trace: %q… %v", tr[:min(len(tr), 16)], err)
	}
}

func TestStartProfilesFailsEarlyAndLeavesNothingRunning(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "missing", "x")
	for _, p := range []Profiles{
		{CPU: bad},
		{CPU: filepath.Join(dir, "cpu"), Trace: bad},
		{CPU: filepath.Join(dir, "cpu2"), Trace: filepath.Join(dir, "tr"), Mem: bad},
	} {
		if _, err := StartProfiles(p); err == nil {
			t.Fatalf("%+v: no error", p)
		}
		// If the CPU profile or trace were left running, this would fail.
		stop, err := StartProfiles(Profiles{CPU: filepath.Join(dir, "ok"), Trace: filepath.Join(dir, "ok.trace")})
		if err != nil {
			t.Fatalf("after a failed start: %v", err)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	stop, err := StartProfiles(Profiles{})
	if err != nil || stop() != nil {
		t.Fatal("empty Profiles must do nothing")
	}
}
