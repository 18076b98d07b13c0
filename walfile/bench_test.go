package walfile

import (
	"os"
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

// discardFS is a MemFS whose files drop every write: it isolates the log's
// CPU cost (encoding, handing over, the writer's bookkeeping) from the disk.
type discardFS struct{ *vfs.MemFS }

type discardFile struct{ vfs.File }

func (d discardFS) OpenFile(name string, flag int, perm os.FileMode) (vfs.File, error) {
	f, err := d.MemFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return discardFile{f}, nil
}

func (discardFile) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }
func (discardFile) Datasync() error                          { return nil }
func (discardFile) Sync() error                              { return nil }

// BenchmarkAppendCPU is Append with a disk that costs nothing: the ceiling
// the log's own work puts on a single producer.
func BenchmarkAppendCPU(b *testing.B) {
	m := vfs.NewMemFS()
	l, err := Open("/wal", Options{FS: discardFS{m}})
	if err != nil {
		b.Fatal(err)
	}
	p := make([]byte, 64)
	b.SetBytes(64)
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
	b.ReportMetric(float64(b.N)/float64(l.Stats().Batches), "records/batch")
	l.Close()
}
