package walfile

import (
	"testing"

	"github.com/cowbook/cowbook/internal/vfs"
)

// BenchmarkAppend measures the producer's side of the log: encoding,
// checksumming and handing a record to the writer, with the writer running
// against a real filesystem (the test's temporary directory).
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{64, 512} {
		b.Run("size="+itoa(size), func(b *testing.B) {
			l, err := Open(b.TempDir(), Options{FS: vfs.OS})
			if err != nil {
				b.Fatal(err)
			}
			p := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := l.Append(1, p); err != nil {
					b.Fatal(err)
				}
			}
			if err := l.Sync(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			st := l.Stats()
			b.ReportMetric(float64(b.N)/float64(st.Batches), "records/batch")
			l.Close()
		})
	}
}

// BenchmarkEncode is the CPU cost of framing one record.
func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, 1024)
	p := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for i := range b.N {
		encodeRecord(buf, uint64(i+1), 0, 1, p)
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for ; n > 0; n /= 10 {
		i--
		b[i] = byte('0' + n%10)
	}
	return string(b[i:])
}
