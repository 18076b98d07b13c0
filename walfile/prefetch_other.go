//go:build !amd64 || purego

package walfile

// prefetchWrite has no instruction to use here.
func prefetchWrite(p *byte) {}

// havePrefetchW is false: Append does not ask for lines ahead.
var havePrefetchW = false
