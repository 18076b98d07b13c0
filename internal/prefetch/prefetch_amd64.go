package prefetch

import "unsafe"

// Line asks for the cache line holding p, into every cache level
// (PREFETCHT0). Any address is allowed; an unmapped one is ignored.
//
//go:noescape
func Line(p unsafe.Pointer)
