package main

import (
	"bytes"
	"testing"
)

// runApp runs the command line with args and returns what it printed.
func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	err := app.Run(append([]string{"cowbook"}, args...))
	return out.String(), err
}
