//go:build !amd64 || purego

package walfile

// recordCRCFast has no faster way here: recordCRC uses hash/crc32.
func recordCRCFast(rec []byte, k segKey) (uint32, bool) { return 0, false }

// recordCRC3Fast has no faster way here: the caller checksums each record.
func recordCRC3Fast(r *[3][]byte, k segKey) bool { return false }
