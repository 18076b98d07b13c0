//go:build amd64 && !purego

package walfile

import "golang.org/x/sys/cpu"

// castagnoliRecord is crc_amd64.s: the CRC32C register crc updated with the
// bytes of a record after its checksum field, the record being 8+8·words
// bytes at rec.
//
//go:noescape
func castagnoliRecord(crc uint32, rec *byte, words int) uint32

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
