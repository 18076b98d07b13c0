//go:build amd64 && !purego

package walfile

// prefetchWrite is prefetch_amd64.s: PREFETCHW of the prefetchSpan bytes
// at p, which must all lie in one buffer. A prefetch is a hint: it never
// faults and changes no data.
//
//go:noescape
func prefetchWrite(p *byte)

// cpuPrefetchW reports whether the CPU has PREFETCHW (CPUID PRFCHW).
func cpuPrefetchW() bool

// havePrefetchW says whether Append asks for the write buffer ahead of it.
var havePrefetchW = cpuPrefetchW()
