package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RunOptions says how to run a set of benchmarks, each as its own process
// (a crash, a leaked mapping or a fork in one cannot disturb the next).
type RunOptions struct {
	// Exe is the cowbook binary; each benchmark runs as
	// Exe bench <name> --json <Args(name)…>.
	Exe string
	// Names are the benchmarks, in the order to run them.
	Names []string
	// Args returns extra arguments for one benchmark; nil means none.
	Args func(name string) []string
	// Dir receives <name>.json, <name>.stderr and index.json.
	Dir string
	// Timeout bounds each benchmark; 0 means 30 minutes.
	Timeout time.Duration
	// Progress, when set, is told when each benchmark starts and ends.
	Progress func(r Result, done bool)
}

// Result is what happened to one benchmark; index.json lists them.
type Result struct {
	Name       string   `json:"name"`
	OK         bool     `json:"ok"`
	Error      string   `json:"error,omitempty"`
	ExitStatus int      `json:"exit_status"`
	DurationMs float64  `json:"duration_ms"`
	Args       []string `json:"args"`
}

// ErrBenchFailed is returned by RunBenchmarks when at least one benchmark
// failed; every benchmark still ran and every file was written.
var ErrBenchFailed = errors.New("report: benchmark failed")

// RunBenchmarks runs every benchmark of o, keeps going past failures, and
// writes each one's standard output to Dir/<name>.json (or, when that is
// not a JSON object, a JSON object with "error" and the raw output in
// Dir/<name>.stdout), its standard error to Dir/<name>.stderr, and the
// list of results to Dir/index.json.
func RunBenchmarks(ctx context.Context, o RunOptions) ([]Result, error) {
	if o.Timeout == 0 {
		o.Timeout = 30 * time.Minute
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	var results []Result
	var failed []string
	for _, name := range o.Names {
		r, err := runOne(ctx, o, name)
		if err != nil {
			return results, err // could not write the results: stop
		}
		results = append(results, r)
		if !r.OK {
			failed = append(failed, name)
		}
	}
	if err := writeJSONFile(filepath.Join(o.Dir, "index.json"), results); err != nil {
		return results, err
	}
	if len(failed) > 0 {
		return results, fmt.Errorf("%w: %s", ErrBenchFailed, strings.Join(failed, ", "))
	}
	return results, nil
}

func runOne(ctx context.Context, o RunOptions, name string) (Result, error) {
	args := []string{"bench", name, "--json"}
	if o.Args != nil {
		args = append(args, o.Args(name)...)
	}
	r := Result{Name: name, Args: args}
	if o.Progress != nil {
		o.Progress(r, false)
	}
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, o.Exe, args...)
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	r.DurationMs = float64(time.Since(start).Microseconds()) / 1000
	r.ExitStatus = cmd.ProcessState.ExitCode()
	if err := os.WriteFile(filepath.Join(o.Dir, name+".stderr"), stderr.Bytes(), 0o644); err != nil {
		return r, fmt.Errorf("report: %w", err)
	}
	out := bytes.TrimSpace(stdout.Bytes())
	var obj map[string]json.RawMessage
	isObject := json.Unmarshal(out, &obj) == nil && obj != nil
	switch {
	case cctx.Err() == context.DeadlineExceeded:
		r.Error = fmt.Sprintf("timed out after %s", o.Timeout)
	case runErr != nil:
		r.Error = fmt.Sprintf("%v%s", runErr, lastLine(stderr.String()))
	case !isObject:
		r.Error = "standard output is not one JSON object"
	}
	r.OK = r.Error == ""
	jsonPath := filepath.Join(o.Dir, name+".json")
	if isObject {
		if err := os.WriteFile(jsonPath, append(out, '\n'), 0o644); err != nil {
			return r, fmt.Errorf("report: %w", err)
		}
	} else {
		if len(out) > 0 {
			if err := os.WriteFile(filepath.Join(o.Dir, name+".stdout"), stdout.Bytes(), 0o644); err != nil {
				return r, fmt.Errorf("report: %w", err)
			}
		}
		failure := map[string]any{"bench": name, "error": r.Error, "exit_status": r.ExitStatus}
		if err := writeJSONFile(jsonPath, failure); err != nil {
			return r, err
		}
	}
	if o.Progress != nil {
		o.Progress(r, true)
	}
	return r, nil
}

// lastLine returns ": " and the last non-empty line of s, or "".
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if l := strings.TrimSpace(lines[len(lines)-1]); l != "" {
		return ": " + l
	}
	return ""
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// LoadDir reads the benchmarks of a directory written by RunBenchmarks:
// the order and failures of index.json when it exists, otherwise every
// *.json but index.json and doctor.json, by name. A failed benchmark's
// Bench carries the failure and the tail of its standard error.
func LoadDir(dir string) ([]Bench, error) {
	var results []Result
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err == nil {
		if err := json.Unmarshal(b, &results); err != nil {
			return nil, fmt.Errorf("report: %s: %w", filepath.Join(dir, "index.json"), err)
		}
	} else {
		files, err := filepath.Glob(filepath.Join(dir, "*.json"))
		if err != nil {
			return nil, fmt.Errorf("report: %w", err)
		}
		for _, f := range files {
			name := strings.TrimSuffix(filepath.Base(f), ".json")
			if name != "index" && name != "doctor" {
				results = append(results, Result{Name: name, OK: true})
			}
		}
	}
	var out []Bench
	for _, r := range results {
		data, err := os.ReadFile(filepath.Join(dir, r.Name+".json"))
		var b Bench
		if err != nil {
			b = Bench{Name: r.Name, Err: err.Error()}
		} else {
			b = Load(r.Name, data)
		}
		if !r.OK && b.Err == "" {
			b.Err = r.Error
		}
		if b.Err != "" {
			if log, err := os.ReadFile(filepath.Join(dir, r.Name+".stderr")); err == nil {
				b.Log = tail(string(log), 40)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// WriteHTML renders p to path, through a temporary file and a rename so
// that a reader never sees half a report.
func WriteHTML(path string, p Page) error {
	var buf bytes.Buffer
	if err := Render(&buf, p); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
