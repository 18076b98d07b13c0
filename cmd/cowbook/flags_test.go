package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cowbook/cowbook/internal/placement"
	"github.com/urfave/cli/v2"
)

// flagApp runs action under a command that carries the shared flags, the
// way a bench command includes them.
func flagApp(action cli.ActionFunc) *cli.App {
	flags := append(placementFlags(), profileFlags()...)
	return &cli.App{Name: "t", Commands: []*cli.Command{{Name: "x", Flags: flags, Action: action}}}
}

func TestPlacementFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    placement.Options
		wantErr bool
	}{
		{args: nil, want: placement.Options{EngineCPU: -1, WriterCPU: -1}},
		{args: []string{"--engine-cpu", "0"}, want: placement.Options{PinEngine: true, EngineCPU: 0, WriterCPU: -1}},
		{args: []string{"--engine-cpu", "1", "--writer-cpu", "0", "--mlock", "--prefault"},
			want: placement.Options{PinEngine: true, EngineCPU: 1, PinWriter: true, WriterCPU: 0, Mlock: true, Prefault: true}},
		{args: []string{"--engine-cpu", "1", "--writer-cpu", "1"}, wantErr: true},
		{args: []string{"--engine-cpu", "-4"}, wantErr: true},
	} {
		var got placement.Options
		var gotErr error
		app := flagApp(func(c *cli.Context) error {
			got, gotErr = placementOptions(c)
			return nil
		})
		if err := app.Run(append([]string{"t", "x"}, tc.args...)); err != nil {
			t.Fatal(err)
		}
		if (gotErr != nil) != tc.wantErr {
			t.Errorf("%v: err %v", tc.args, gotErr)
			continue
		}
		if !tc.wantErr && got != tc.want {
			t.Errorf("%v: got %+v, want %+v", tc.args, got, tc.want)
		}
	}
}

func TestProfileFlags(t *testing.T) {
	dir := t.TempDir()
	cpu, mem, tr := filepath.Join(dir, "cpu"), filepath.Join(dir, "mem"), filepath.Join(dir, "trace")
	app := flagApp(func(c *cli.Context) error {
		stop, err := startProfiles(c)
		if err != nil {
			return err
		}
		return stop()
	})
	if err := app.Run([]string{"t", "x", "--cpuprofile", cpu, "--memprofile", mem, "--trace", tr}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{cpu, mem, tr} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
