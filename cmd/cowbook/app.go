package main

import (
	"encoding/json"
	"errors"
	"io"

	"github.com/urfave/cli/v2"
)

func newApp() *cli.App {
	return &cli.App{
		Name:                 "cowbook",
		Usage:                "a durable, single-threaded exchange matching engine",
		EnableBashCompletion: true,
		HideHelpCommand:      true,
		Commands: []*cli.Command{
			benchCommand(),
			cowHelperCommand(),
			doctorCommand(),
			snapshotCommand(),
			genCommand(),
			walCommand(),
			serveCommand(),
			orderCommand(),
			loadCommand(),
			statusCommand(),
			replayCommand(),
		},
	}
}

// Flags shared by several commands.
var (
	dataFlag = &cli.StringFlag{Name: "data", Value: "./data", Usage: "data `DIR` (log in DIR/wal, snapshots in DIR/snap)"}
	jsonFlag = &cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"}
)

// writeJSON prints v as one indented JSON object, the contract of every
// --json output (docs: DESIGN §3.2).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exitError carries a process exit status other than 1, for commands such
// as `verify` whose status is their answer.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}
