package main

import (
	"bytes"
	"testing"
)

// runApp runs the command line with args and returns what it printed.
func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"cowbook"}, args...))
	return out.String(), err
}
