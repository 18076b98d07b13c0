package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/perf"
	"github.com/cowbook/cowbook/perf/report"
	"github.com/urfave/cli/v2"
)

// The test binary doubles as the cowbook binary that bench all re-executes:
// with childEnv set it runs testApp on its arguments instead of the tests.
const childEnv = "COWBOOK_TEST_AS_CLI"

func TestMain(m *testing.M) {
	serveCowHelperIfAsked()
	if os.Getenv(childEnv) == "1" {
		if err := testApp().Run(append([]string{"cowbook"}, os.Args[1:]...)); err != nil {
			fmt.Fprintln(os.Stderr, "cowbook:", err)
			os.Exit(exitCode(err))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testApp is newApp with two stand-in benchmarks registered the way
// command_bench.go registers real ones.
func testApp() *cli.App {
	app := newApp()
	bench := app.Command("bench")
	bench.Subcommands = append(bench.Subcommands,
		&cli.Command{
			Name:  "fake-engine",
			Flags: append([]cli.Flag{jsonFlag, dataFlag}, placementFlags()...),
			Action: func(c *cli.Context) error {
				h := perf.NewHistogram()
				for i := int64(1); i <= 1000; i++ {
					h.Record(i * 100)
				}
				return writeJSON(c.App.Writer, map[string]any{
					"data": c.String("data"), "engine_cpu": c.Int("engine-cpu"),
					"ops_per_sec": 1000, "floor_ops_per_sec": 4000,
					"latency_curve": h.Curve(),
				})
			},
		},
		&cli.Command{
			Name:  "fake-broken",
			Flags: []cli.Flag{jsonFlag},
			Action: func(c *cli.Context) error {
				return &exitError{code: 4, err: errors.New("arena: cannot map 64 GiB")}
			},
		})
	return app
}

func TestBenchAllRunsEveryBenchmarkAndWritesTheReport(t *testing.T) {
	t.Setenv(childEnv, "1") // the re-executed children run testApp
	out := filepath.Join(t.TempDir(), "report")
	app := testApp()
	var stderr strings.Builder
	app.ErrWriter = &stderr
	err := app.Run([]string{"cowbook", "bench", "all", "--out", out, "--only", "fake-engine,fake-broken", "--data", "/srv/d", "--engine-cpu", "0"})
	if !errors.Is(err, report.ErrBenchFailed) {
		t.Fatalf("err = %v (a failed benchmark must set the exit status)\n%s", err, stderr.String())
	}
	var eng map[string]any
	b, _ := os.ReadFile(filepath.Join(out, "fake-engine.json"))
	if err := json.Unmarshal(b, &eng); err != nil {
		t.Fatalf("fake-engine.json: %v\n%s", err, b)
	}
	if eng["data"] != "/srv/d/fake-engine" || eng["engine_cpu"] != float64(0) {
		t.Errorf("flags not passed through: %v", eng)
	}
	var index []report.Result
	b, _ = os.ReadFile(filepath.Join(out, "index.json"))
	if err := json.Unmarshal(b, &index); err != nil || len(index) != 2 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	if !index[0].OK || index[1].OK || index[1].ExitStatus != 4 || !strings.Contains(index[1].Error, "cannot map") {
		t.Errorf("index %+v", index)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`data-series="latency"`, "cannot map 64 GiB", "Transparent huge pages", "× floor"} {
		if !strings.Contains(string(html), s) {
			t.Errorf("report lacks %q", s)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "doctor.json")); err != nil {
		t.Error(err)
	}

	// --render-only rebuilds the page from the files without running anything.
	if err := os.Remove(filepath.Join(out, "report.html")); err != nil {
		t.Fatal(err)
	}
	if err := testApp().Run([]string{"cowbook", "bench", "all", "--out", out, "--render-only"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "report.html")); err != nil {
		t.Fatal(err)
	}
}

func TestBenchAllSelection(t *testing.T) {
	t.Setenv(childEnv, "1")
	out := t.TempDir()
	app := testApp()
	app.ErrWriter = &strings.Builder{}
	if err := app.Run([]string{"cowbook", "bench", "all", "--out", out, "--only", "fake-engine"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "fake-broken.json")); !os.IsNotExist(err) {
		t.Error("--only ran another benchmark")
	}
	err := testApp().Run([]string{"cowbook", "bench", "all", "--out", out, "--skip", "nonesuch"})
	if err == nil || !strings.Contains(err.Error(), `no benchmark "nonesuch"`) {
		t.Fatalf("unknown name: %v", err)
	}
}

// The real app: with no benchmark registered yet it still writes a report.
func TestBenchAllWithTheRegisteredBenchmarks(t *testing.T) {
	out := t.TempDir()
	app := newApp()
	app.ErrWriter = &strings.Builder{}
	names, err := selectBenches(benchSubcommands(cli.NewContext(app, nil, nil)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if n == "all" || n == "help" {
			t.Fatalf("bench all would run %q", n)
		}
	}
	if len(names) > 0 {
		t.Skipf("benchmarks registered (%v): exercised by bench all itself, too slow here", names)
	}
	if err := app.Run([]string{"cowbook", "bench", "all", "--out", out}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(out, "report.html")); err != nil || !strings.Contains(string(b), "no benchmark ran") {
		t.Fatalf("%v", err)
	}
}
