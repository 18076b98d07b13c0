package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/walfile"
)

// makeLog writes n records of "record <seq>" into data/wal.
func makeLog(t *testing.T, n int) string {
	t.Helper()
	data := t.TempDir()
	l, err := walfile.Open(filepath.Join(data, "wal"), walfile.Options{SegmentSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := l.Append(uint8(i%3), []byte("record "+strings.Repeat("x", i%50))); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return data
}

func TestWalCommands(t *testing.T) {
	data := makeLog(t, 3000)
	out, err := runApp(t, "wal", "ls", "--data", data)
	if err != nil || strings.Count(out, ".wal") < 2 {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	out, err = runApp(t, "wal", "inspect", "--data", data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep walfile.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.LastSeq != 3000 || rep.Records != 3000 || rep.Damage != nil {
		t.Fatalf("inspect --json: %v %+v\n%s", err, rep, out)
	}
	if _, err := runApp(t, "wal", "verify", "--data", data); err != nil {
		t.Fatalf("verify of a whole log: %v", err)
	}
	out, err = runApp(t, "wal", "dump", "--data", data, "--from", "10", "--to", "12", "--json")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("dump 10..12 printed %d lines:\n%s", len(lines), out)
	}
	var rec dumpRecord
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil || rec.Seq != 10 || rec.Type != 9%3 || rec.PayloadHex == "" {
		t.Fatalf("dump line %q: %v %+v", lines[0], err, rec)
	}
	out, err = runApp(t, "wal", "dump", "--data", data, "--from", "3000")
	if err != nil || !strings.HasPrefix(out, "3000\t") {
		t.Fatalf("dump --from 3000: %v %q", err, out)
	}

	// Damage a record in the first segment: verify exits 3, repair
	// refuses without --force, and with it the log ends before the damage.
	segs, _ := walfile.List(filepath.Join(data, "wal"), walfile.Options{})
	first := filepath.Join(data, "wal", segs[0].Name)
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	b[4096+1000] ^= 0x10
	if err := os.WriteFile(first, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = runApp(t, "wal", "verify", "--data", data)
	if exitCode(err) != exitCorrupt {
		t.Fatalf("verify of a corrupt log: %v (exit %d)", err, exitCode(err))
	}
	if !strings.Contains(err.Error(), segs[0].Name) || !strings.Contains(err.Error(), "offset") {
		t.Fatalf("verify error does not name segment and offset: %v", err)
	}
	if _, err := runApp(t, "wal", "repair", "--data", data); exitCode(err) != exitCorrupt {
		t.Fatalf("repair without --force: %v", err)
	}
	if _, err := runApp(t, "wal", "verify", "--data", data); exitCode(err) != exitCorrupt {
		t.Fatal("repair without --force changed the log")
	}
	out, err = runApp(t, "wal", "repair", "--data", data, "--force")
	if err != nil || !strings.Contains(out, "kept in") {
		t.Fatalf("repair --force: %v\n%s", err, out)
	}
	if _, err := runApp(t, "wal", "verify", "--data", data); err != nil {
		t.Fatalf("verify after repair --force: %v", err)
	}
}

func TestWalVerifyTornTail(t *testing.T) {
	data := makeLog(t, 100)
	segs, _ := walfile.List(filepath.Join(data, "wal"), walfile.Options{})
	last := filepath.Join(data, "wal", segs[len(segs)-1].Name)
	r, err := walfile.Inspect(filepath.Join(data, "wal"), walfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	end := r.Segments[len(r.Segments)-1].End
	b, _ := os.ReadFile(last)
	copy(b[end-10:], "garbage!!!")
	os.WriteFile(last, b, 0o644)
	if _, err := runApp(t, "wal", "verify", "--data", data); exitCode(err) != exitTornTail {
		t.Fatalf("verify of a torn tail: %v (exit %d)", err, exitCode(err))
	}
	out, err := runApp(t, "wal", "repair", "--data", data)
	if err != nil || !strings.Contains(out, "torn tail") {
		t.Fatalf("repair: %v\n%s", err, out)
	}
	if _, err := runApp(t, "wal", "verify", "--data", data); err != nil {
		t.Fatalf("verify after repair: %v", err)
	}
}

// TestWalRestartRefuses: wal restart changes nothing where it has no
// snapshot to start from (node.TestRestartLogAfterSnapshot covers the
// restart itself).
func TestWalRestartRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := runApp(t, "wal", "restart", "--data", dir); err == nil || !strings.Contains(err.Error(), "not a node's data directory") {
		t.Fatalf("restart without a manifest: %v", err)
	}
}
