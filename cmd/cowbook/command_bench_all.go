package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cowbook/cowbook/hostcheck"
	"github.com/cowbook/cowbook/perf/report"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
)

// benchAllCommand runs every other bench subcommand as its own process and
// writes their JSON and an HTML report (docs/report.md).
func benchAllCommand() *cli.Command {
	return &cli.Command{
		Name:  "all",
		Usage: "run every benchmark, keep each one's JSON in --out and write --out/report.html",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "out", Value: "report", Usage: "write <bench>.json, <bench>.stderr, index.json, doctor.json and report.html to `DIR`"},
			&cli.StringFlag{Name: "data", Usage: "give each benchmark that takes --data its own directory under `DIR` (default: OUT/data)"},
			&cli.StringSliceFlag{Name: "only", Usage: "run only these benchmarks (comma-separated)"},
			&cli.StringSliceFlag{Name: "skip", Usage: "skip these benchmarks"},
			&cli.DurationFlag{Name: "timeout", Value: 30 * time.Minute, Usage: "stop a benchmark that runs longer than this"},
			&cli.BoolFlag{Name: "render-only", Usage: "do not run anything; rebuild report.html from the JSON already in --out"},
		}, placementFlags()...),
		Action: func(c *cli.Context) error {
			out := c.String("out")
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			subs := benchSubcommands(c)
			byName := map[string]*cli.Command{}
			for _, s := range subs {
				byName[s.Name] = s
			}
			names, err := selectBenches(subs, c.StringSlice("only"), c.StringSlice("skip"))
			if err != nil {
				return err
			}
			dataRoot := c.String("data")
			if dataRoot == "" {
				dataRoot = filepath.Join(out, "data")
			}
			var runErr error
			if !c.Bool("render-only") {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("bench all: finding the cowbook binary: %w", err)
				}
				_, runErr = report.RunBenchmarks(c.Context, report.RunOptions{
					Exe:     exe,
					Names:   names,
					Args:    func(name string) []string { return passThrough(c, byName[name], filepath.Join(dataRoot, name)) },
					Dir:     out,
					Timeout: c.Duration("timeout"),
					Progress: func(r report.Result, done bool) {
						switch {
						case !done:
							fmt.Fprintf(c.App.ErrWriter, "bench all: %s …\n", r.Name)
						case r.OK:
							fmt.Fprintf(c.App.ErrWriter, "bench all: %s ok (%.1f s)\n", r.Name, r.DurationMs/1000)
						default:
							fmt.Fprintf(c.App.ErrWriter, "bench all: %s FAILED: %s\n", r.Name, r.Error)
						}
					},
				})
				if runErr != nil && !errors.Is(runErr, report.ErrBenchFailed) {
					return runErr
				}
			}
			// The host as the benchmarks saw it, their data directory included.
			host := hostcheck.Run(hostcheck.Options{DataDir: dataRoot})
			if err := writeJSONFile(filepath.Join(out, "doctor.json"), host); err != nil {
				return err
			}
			benches, err := report.LoadDir(out)
			if err != nil {
				return err
			}
			page := report.Page{Title: "cowbook benchmarks", Meta: runFacts(c), Benches: benches}
			for _, ch := range host.Checks {
				page.Notes = append(page.Notes, report.Note{Status: string(ch.Status), Title: ch.Title, Value: ch.Value})
			}
			html := filepath.Join(out, "report.html")
			if err := report.WriteHTML(html, page); err != nil {
				return err
			}
			fmt.Fprintf(c.App.ErrWriter, "bench all: %d benchmarks, report in %s\n", len(benches), html)
			return runErr // the report is written either way; a failure still sets the exit status
		},
	}
}

// benchSubcommands returns the running app's bench subcommands other
// than all, in registration order (command_bench.go).
func benchSubcommands(c *cli.Context) []*cli.Command {
	var subs []*cli.Command
	if bench := c.App.Command("bench"); bench != nil {
		for _, s := range bench.Subcommands {
			if s.Name != "all" && s.Name != "help" && !s.Hidden {
				subs = append(subs, s)
			}
		}
	}
	return subs
}

// selectBenches applies --only and --skip, keeping registration order,
// and rejects names that are not benchmarks.
func selectBenches(subs []*cli.Command, only, skip []string) ([]string, error) {
	known := map[string]bool{}
	var all []string
	for _, s := range subs {
		known[s.Name] = true
		all = append(all, s.Name)
	}
	for _, n := range append(append([]string{}, only...), skip...) {
		if !known[n] {
			return nil, fmt.Errorf("bench all: no benchmark %q (have: %s)", n, strings.Join(all, ", "))
		}
	}
	in := func(xs []string, x string) bool {
		for _, y := range xs {
			if y == x {
				return true
			}
		}
		return false
	}
	var names []string
	for _, n := range all {
		if (len(only) == 0 || in(only, n)) && !in(skip, n) {
			names = append(names, n)
		}
	}
	return names, nil
}

// passThrough gives a benchmark the flags it declares: its own --data
// directory and the placement flags given to bench all.
func passThrough(c *cli.Context, sub *cli.Command, dataDir string) []string {
	has := func(name string) bool {
		for _, f := range sub.Flags {
			for _, n := range f.Names() {
				if n == name {
					return true
				}
			}
		}
		return false
	}
	var args []string
	if has("data") {
		args = append(args, "--data", dataDir)
	}
	for _, name := range []string{"engine-cpu", "writer-cpu"} {
		if c.IsSet(name) && has(name) {
			args = append(args, "--"+name, fmt.Sprint(c.Int(name)))
		}
	}
	for _, name := range []string{"mlock", "prefault"} {
		if c.Bool(name) && has(name) {
			args = append(args, "--"+name)
		}
	}
	return args
}

// runFacts describes the run for the report header.
func runFacts(c *cli.Context) [][2]string {
	facts := [][2]string{{"date", time.Now().UTC().Format("2006-01-02 15:04 UTC")}}
	if h, err := os.Hostname(); err == nil {
		facts = append(facts, [2]string{"host", h})
	}
	var u unix.Utsname
	if err := unix.Uname(&u); err == nil {
		facts = append(facts, [2]string{"kernel", unix.ByteSliceToString(u.Release[:])})
	}
	facts = append(facts,
		[2]string{"cpus", fmt.Sprint(runtime.NumCPU())},
		[2]string{"go", runtime.Version()},
		[2]string{"command", "cowbook " + strings.Join(os.Args[1:], " ")})
	return facts
}

func writeJSONFile(path string, v any) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeJSON(f, v); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
