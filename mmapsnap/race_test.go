//go:build race

package mmapsnap_test

// raceEnabled is set under the race detector, which slows the exhaustive
// corruption tests about tenfold: they then sample instead.
const raceEnabled = true
