// Package prefetch asks the CPU to start loading a cache line that the
// program will read soon, so that several cache misses can be in flight at
// once instead of one after another. It changes nothing the program can
// observe: a prefetch never faults, never waits and never writes.
package prefetch
