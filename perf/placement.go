package perf

import "github.com/cowbook/cowbook/internal/placement"

// placeThread applies the process-wide and calling-thread parts of p (Mlock,
// then PinEngine) for a benchmark that goes on unplaced when the kernel
// refuses. It returns what was refused, for the result's placement_refused,
// and the release of the pin (a no-op when nothing was pinned).
func placeThread(p placement.Options) (refused []string, release func()) {
	release = func() {}
	if err := p.LockIfRequested(); err != nil {
		refused = append(refused, err.Error())
	}
	if rel, err := p.PinEngineThread(); err != nil {
		refused = append(refused, err.Error())
	} else {
		release = func() { _ = rel() }
	}
	return refused, release
}
