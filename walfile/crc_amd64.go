//go:build amd64 && !purego

package walfile

import (
	"encoding/binary"

	"golang.org/x/sys/cpu"
)

// castagnoliRecord is crc_amd64.s: the CRC32C register crc updated with the
// bytes of a record after its checksum field, the record being 8+8·words
// bytes at rec.
//
//go:noescape
func castagnoliRecord(crc uint32, rec *byte, words int) uint32

// castagnoliRecord3 is castagnoliRecord for three records of 8+8·words
// bytes each, at r0, r1 and r2, updating the registers in crc.
//
//go:noescape
func castagnoliRecord3(crc *[3]uint32, r0, r1, r2 *byte, words int)

// haveRecordCRC says whether castagnoliRecord may run: it needs SSE4.2's
// CRC32 instruction.
var haveRecordCRC = cpu.X86.HasSSE42

// recordCRCFast is recordCRC with one CRC32 instruction per 8 bytes and no
// call into hash/crc32. For a 64-byte payload that package's per-call
// dispatch and alignment cost twice the instructions themselves, and the
// sealer checksums every record (BenchmarkRecordCRC). It reports false,
// computing nothing, when it cannot run or rec is not a whole number of
// 8-byte words (records always are: see recordAlign).
func recordCRCFast(rec []byte, k segKey) (uint32, bool) {
	if !haveRecordCRC || len(rec) < 8 || len(rec)%8 != 0 {
		return 0, false
	}
	return ^castagnoliRecord(^k.seed, &rec[0], len(rec)/8-1), true
}

// recordCRC3Fast sets the checksum field of three records of the same size
// under key k, interleaving their checksums, and reports true; or, when it
// cannot run or the sizes differ, reports false and does nothing.
func recordCRC3Fast(r *[3][]byte, k segKey) bool {
	n := len(r[0])
	if !haveRecordCRC || n < 8 || n%8 != 0 || len(r[1]) != n || len(r[2]) != n {
		return false
	}
	c := [3]uint32{^k.seed, ^k.seed, ^k.seed}
	castagnoliRecord3(&c, &r[0][0], &r[1][0], &r[2][0], n/8-1)
	binary.LittleEndian.PutUint32(r[0], ^c[0])
	binary.LittleEndian.PutUint32(r[1], ^c[1])
	binary.LittleEndian.PutUint32(r[2], ^c[2])
	return true
}
