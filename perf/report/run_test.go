package report

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCowbook writes a script that behaves like `cowbook bench <name>`.
func fakeCowbook(t *testing.T) string {
	t.Helper()
	exe := filepath.Join(t.TempDir(), "cowbook")
	script := `#!/bin/sh
[ "$1" = bench ] && [ "$3" = --json ] || { echo "bad args: $*" >&2; exit 9; }
case "$2" in
ok) echo '{"p50_ns": 120, "latency_curve": [{"percentile": 50, "value_ns": 120}, {"percentile": 100, "value_ns": 900}], "args": "'"$*"'"}' ;;
fail) echo '{"partial": 1}'; echo "opening wal: permission denied" >&2; exit 3 ;;
garbage) echo 'not json' ;;
slow) exec sleep 10 ;;
esac
`
	if err := os.WriteFile(exe, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

func TestRunBenchmarksKeepsGoingAndRecordsFailures(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	var started []string
	results, err := RunBenchmarks(context.Background(), RunOptions{
		Exe:     fakeCowbook(t),
		Names:   []string{"ok", "fail", "garbage", "slow"},
		Args:    func(name string) []string { return []string{"--data", "/d/" + name} },
		Dir:     dir,
		Timeout: 300 * time.Millisecond,
		Progress: func(r Result, done bool) {
			if !done {
				started = append(started, r.Name)
			}
		},
	})
	if !errors.Is(err, ErrBenchFailed) || !strings.Contains(err.Error(), "fail, garbage, slow") {
		t.Fatalf("err = %v", err)
	}
	if strings.Join(started, ",") != "ok,fail,garbage,slow" || len(results) != 4 {
		t.Fatalf("started %v, results %+v", started, results)
	}
	byName := map[string]Result{}
	for _, r := range results {
		byName[r.Name] = r
	}
	if !byName["ok"].OK || byName["fail"].ExitStatus != 3 || !strings.Contains(byName["fail"].Error, "permission denied") ||
		!strings.Contains(byName["garbage"].Error, "not one JSON object") || !strings.Contains(byName["slow"].Error, "timed out") {
		t.Fatalf("results %+v", results)
	}
	// ok.json is the benchmark's own output, with the extra arguments passed.
	var ok map[string]any
	b, _ := os.ReadFile(filepath.Join(dir, "ok.json"))
	if err := json.Unmarshal(b, &ok); err != nil || ok["args"] != "bench ok --json --data /d/ok" {
		t.Fatalf("ok.json %s %v", b, err)
	}
	// A failure that printed JSON keeps it; garbage gets a failure record and its raw output.
	if b, _ := os.ReadFile(filepath.Join(dir, "fail.json")); !strings.Contains(string(b), "partial") {
		t.Errorf("fail.json %s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "garbage.stdout")); string(b) != "not json\n" {
		t.Errorf("garbage.stdout %q", b)
	}
	benches, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(benches) != 4 || benches[0].Name != "ok" || benches[0].Err != "" || len(benches[0].Curves) != 1 {
		t.Fatalf("loaded %+v", benches)
	}
	if benches[1].Err == "" || !strings.Contains(benches[1].Log, "permission denied") {
		t.Errorf("fail: %+v", benches[1])
	}
	if benches[2].Err == "" || benches[3].Err == "" {
		t.Errorf("garbage/slow not failed: %+v %+v", benches[2], benches[3])
	}
	if err := WriteHTML(filepath.Join(dir, "report.html"), Page{Title: "t", Benches: benches}); err != nil {
		t.Fatal(err)
	}
	parse(t, mustRead(t, filepath.Join(dir, "report.html")))
}

func TestLoadDirWithoutIndex(t *testing.T) {
	benches, err := LoadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range benches {
		names = append(names, b.Name)
	}
	if strings.Join(names, ",") != "broken,engine,failed,snapshot-file,snapshot,wal" {
		t.Fatalf("names %v", names)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
