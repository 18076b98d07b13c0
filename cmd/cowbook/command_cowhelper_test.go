package main

import (
	"os"
	"strings"
	"testing"
)

// serveCowHelperIfAsked, called first by TestMain, lets the test binary
// serve as the snapshot helper: package cow re-execs /proc/self/exe with
// the hidden helper command, which here is this test binary.
func serveCowHelperIfAsked() {
	if len(os.Args) > 1 && os.Args[1] == cowHelperName {
		if err := newApp().Run(append([]string{"cowbook"}, os.Args[1:]...)); err != nil {
			os.Stderr.WriteString("cowbook: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestCowHelperRefusesWithoutNode(t *testing.T) {
	// Run by hand, without the node's descriptors 3 and 4, the helper must
	// fail cleanly rather than serve anything.
	err := newApp().Run([]string{"cowbook", cowHelperName, "--dir", t.TempDir()})
	if err == nil {
		t.Fatal("helper ran without its control socket")
	}
}

func TestCowHelperRejectsUnknownFormat(t *testing.T) {
	err := newApp().Run([]string{"cowbook", cowHelperName, "--dir", t.TempDir(), "--format", "zip"})
	if err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestCowHelperArgsCarryMlock(t *testing.T) {
	has := func(args []string) bool {
		for _, a := range args {
			if a == "--mlock" {
				return true
			}
		}
		return false
	}
	if !has(cowHelperArgs("d", 2, "mmapsnap", true)) || has(cowHelperArgs("d", 2, "mmapsnap", false)) {
		t.Fatal("--mlock not passed on to the helper exactly when asked")
	}
	// The helper takes the flag (the format is refused before anything is
	// locked, so this test process stays unlocked).
	err := newApp().Run([]string{"cowbook", cowHelperName, "--dir", t.TempDir(), "--mlock", "--format", "zip"})
	if err == nil || !strings.Contains(err.Error(), "unknown --format") {
		t.Fatalf("helper with --mlock and a bad format: %v", err)
	}
}
