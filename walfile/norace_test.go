//go:build !race

package walfile

const raceEnabled = false
