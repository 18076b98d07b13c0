package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/mmapsnap"
	"github.com/cowbook/cowbook/perf"
)

func writeSnapshots(t *testing.T, seqs ...uint64) (data string, paths []string) {
	t.Helper()
	data = t.TempDir()
	for _, seq := range seqs {
		arena := make([]byte, 3*mmapsnap.MinBlockSize+int(seq))
		perf.ArenaImage(arena, seq)
		in, err := mmapsnap.Write(filepath.Join(data, "snap"), mmapsnap.Meta{Seq: seq, ArenaSize: uint64(len(arena))},
			bytes.NewReader(arena), mmapsnap.Options{BlockSize: mmapsnap.MinBlockSize})
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, in.Path)
	}
	return data, paths
}

func TestSnapshotLs(t *testing.T) {
	data, _ := writeSnapshots(t, 3, 11, 7)
	out, err := runApp(t, "snapshot", "ls", "--data", data, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Snapshots []struct {
			Seq        uint64  `json:"seq"`
			ArenaBytes uint64  `json:"arena_bytes"`
			FileBytes  int64   `json:"file_bytes"`
			Ratio      float64 `json:"ratio"`
			Blocks     int     `json:"blocks"`
		} `json:"snapshots"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if len(got.Snapshots) != 3 || got.Snapshots[0].Seq != 11 || got.Snapshots[2].Seq != 3 {
		t.Fatalf("ls --json: %s", out)
	}
	s := got.Snapshots[0]
	if s.ArenaBytes != 3*mmapsnap.MinBlockSize+11 || s.Blocks != 4 || s.FileBytes <= 0 || s.Ratio <= 0 {
		t.Fatalf("ls --json entry: %+v", s)
	}
	out, err = runApp(t, "snapshot", "ls", "--data", data)
	if err != nil || !strings.Contains(out, mmapsnap.FileName(7)) || !strings.Contains(out, "SEQ") {
		t.Fatalf("ls: %v\n%s", err, out)
	}
	out, err = runApp(t, "snapshot", "ls", "--data", t.TempDir())
	if err != nil || !strings.Contains(out, "no snapshots") {
		t.Fatalf("ls of an empty data dir: %v\n%s", err, out)
	}
}

func TestSnapshotInspect(t *testing.T) {
	_, paths := writeSnapshots(t, 5)
	out, err := runApp(t, "snapshot", "inspect", "--json", paths[0])
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seq       uint64 `json:"seq"`
		Blocks    int    `json:"blocks"`
		BlockList []struct {
			RawBytes uint32 `json:"raw_bytes"`
		} `json:"block_list"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if got.Seq != 5 || got.Blocks != 4 || len(got.BlockList) != 4 || got.BlockList[3].RawBytes != 5 {
		t.Fatalf("inspect --json: %s", out)
	}
	out, err = runApp(t, "snapshot", "inspect", "--blocks", paths[0])
	if err != nil || !strings.Contains(out, "seq             5") || !strings.Contains(out, "STORED CRC") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	if _, err := runApp(t, "snapshot", "inspect"); err == nil {
		t.Fatalf("inspect without FILE succeeded")
	}
}

func TestSnapshotVerify(t *testing.T) {
	data, paths := writeSnapshots(t, 1, 2)
	if out, err := runApp(t, "snapshot", "verify", paths[0]); err != nil || !strings.HasPrefix(out, "ok") {
		t.Fatalf("verify of a whole file: %v\n%s", err, out)
	}
	if out, err := runApp(t, "snapshot", "verify", "--data", data, "--json"); err != nil || !strings.Contains(out, `"whole": true`) {
		t.Fatalf("verify --data of whole files: %v\n%s", err, out)
	}

	b, err := os.ReadFile(paths[1])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(paths[1], b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runApp(t, "snapshot", "verify", paths[1])
	if exitCode(err) != 2 || !strings.Contains(out, "CORRUPT") {
		t.Fatalf("verify of a corrupt file: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	out, err = runApp(t, "snapshot", "verify", "--data", data, "--json")
	if exitCode(err) != 2 || !strings.Contains(out, `"whole": false`) {
		t.Fatalf("verify --data with one corrupt: exit %d (%v)\n%s", exitCode(err), err, out)
	}
	if _, err := runApp(t, "snapshot", "verify", "--data", t.TempDir()); exitCode(err) != 2 {
		t.Fatalf("verify of an empty data dir: %v", err)
	}
	if _, err := runApp(t, "snapshot", "verify", filepath.Join(data, "missing")); err == nil || exitCode(err) == 2 {
		t.Fatalf("verify of a missing file: %v", err)
	}
}
