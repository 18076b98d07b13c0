//go:build race

package walfile

const raceEnabled = true
