//go:build !race

package mmapsnap_test

const raceEnabled = false
