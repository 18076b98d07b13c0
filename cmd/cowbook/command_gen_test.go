package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cowbook/cowbook/engine"
)

func TestGenCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "w.txt")
	app := newApp()
	if err := app.Run([]string{"cowbook", "gen", "--ops", "5000", "--seed", "3", "--out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := engine.ReadAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(cmds) != 5000 || cmds[0].Kind != engine.CmdDefineSymbol {
		t.Fatalf("%d commands, first %+v", len(cmds), cmds[0])
	}

	// Same seed on stdout: the same bytes.
	var stdout bytes.Buffer
	app = newApp()
	app.Writer = &stdout
	if err := app.Run([]string{"cowbook", "gen", "--ops", "5000", "--seed", "3"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), b) {
		t.Fatal("stdout and --out differ for the same seed")
	}
	if err := newApp().Run([]string{"cowbook", "gen", "--ops", "0"}); err == nil || !strings.Contains(err.Error(), "--ops") {
		t.Fatalf("--ops 0: %v", err)
	}
}
