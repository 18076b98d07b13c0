//go:build amd64 && !purego

package walfile

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestRecordCRCFastRuns makes sure TestRecordCRC compared the assembly, not
// hash/crc32 with itself, wherever the CPU has the instruction.
func TestRecordCRCFastRuns(t *testing.T) {
	if !cpu.X86.HasSSE42 {
		t.Skip("no SSE4.2: recordCRC uses hash/crc32")
	}
	if _, ok := recordCRCFast(make([]byte, RecordSize(64)), testKey); !ok {
		t.Fatal("recordCRCFast declined a whole record")
	}
}
