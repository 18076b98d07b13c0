// Package zeros tells whether memory holds only zero bytes: the end of a
// preallocated log segment, the unused tables of the engine's order index.
package zeros

import "bytes"

// chunk is never written: what an all-zero piece of memory compares equal
// to.
var chunk [64 << 10]byte

// All reports whether b holds only zero bytes. It compares b with zeros a
// large piece at a time (bytes.Equal's vector compare) and front to back:
// a mapped file is then read in order, which is what the kernel reads
// ahead for (read back to front, a file not in the page cache was read a
// page per fault).
func All(b []byte) bool {
	for len(b) > len(chunk) {
		if !bytes.Equal(b[:len(chunk)], chunk[:]) {
			return false
		}
		b = b[len(chunk):]
	}
	return bytes.Equal(b, chunk[:len(b)])
}
