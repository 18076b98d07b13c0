package walfile

import (
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/internal/vfs"
)

// threadCPU returns the CPU time of the calling OS thread: on a shared,
// loaded machine it measures the producer's own cost where wall time also
// counts the time other processes held the core.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}

// appendLoop appends b.N records of payload p on a locked thread and
// reports the producer's CPU time per Append beside the wall time.
func appendLoop(b *testing.B, l *Log, p []byte) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	c0 := threadCPU()
	for range b.N {
		if _, err := l.Append(1, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(threadCPU()-c0)/float64(b.N), "producer-cpu-ns/op")
	if err := l.Sync(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
}

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
			appendLoop(b, l, p)
			st := l.Stats()
			b.ReportMetric(float64(b.N)/float64(st.Batches), "records/batch")
			l.Close()
		})
	}
}

// BenchmarkEncodeBody is the appender's share of framing one record: the
// header and the payload copy, without the checksum the writer adds.
func BenchmarkEncodeBody(b *testing.B) {
	buf := make([]byte, 1024)
	p := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	n := 0
	for i := range b.N {
		n += encodeBody(buf[i&63:], uint64(i+1), 1, p)
	}
	sink = n
}

var sink int

// BenchmarkEncode is the CPU cost of framing one record.
func BenchmarkEncode(b *testing.B) {
	buf := make([]byte, 1024)
	p := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	for i := range b.N {
		encodeRecord(buf, uint64(i+1), 0, 1, p, testKey)
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
	appendLoop(b, l, p)
	b.ReportMetric(float64(b.N)/float64(l.Stats().Batches), "records/batch")
	l.Close()
}

// BenchmarkFindOwn is the search Open makes through the rest of a recycled
// last segment for records of its life: 64 MiB of records of an earlier
// life, none of this one.
func BenchmarkFindOwn(b *testing.B) {
	seg := make([]byte, 64<<20)
	old := keyFor(freshEpoch)
	var pbuf [64]byte
	for off, seq := 0, uint64(1); off+RecordSize(64) <= len(seg); seq++ {
		off += encodeRecord(seg[off:], seq, 0, 1, payloadFor(seq, pbuf[:]), old)
	}
	k := keyFor(nextEpoch(freshEpoch))
	b.SetBytes(int64(len(seg)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if p := findOwn(seg, 0, k); p >= 0 {
			b.Fatalf("found a record of this life at %d", p)
		}
	}
}

// BenchmarkSealBatch is the sealer's work per record in a full batch of
// 64-byte records: batch field, tag and checksum.
func BenchmarkSealBatch(b *testing.B) {
	const records = 12000
	size := RecordSize(64)
	buf := make([]byte, records*size)
	p := make([]byte, 64)
	for i := range records {
		encodeBody(buf[i*size:], uint64(i+1000), 1, p)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sealBatch(buf, 999, testKey); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*records), "ns/record")
}
