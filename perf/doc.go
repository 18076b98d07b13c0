// Package perf holds what cowbook's benchmarks share: workload generators,
// latency histograms, the floors each figure is compared with, and the
// harnesses behind `cowbook bench …`. Every harness returns a result struct
// whose JSON field names are the public contract of `--json` (snake_case,
// units in the name).
package perf
