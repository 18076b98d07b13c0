package node

import (
	"github.com/cowbook/cowbook/internal/placement"
	"testing"

	"github.com/cowbook/cowbook/walfile"
)

// BenchmarkRecovery times BenchRecovery's restart (`cowbook bench recovery`
// is the figure of record; this is for profiles).
func BenchmarkRecovery(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		res, err := BenchRecovery(b.TempDir(), 100_000, 100_000, 3, walfile.Options{Buffered: true}, placement.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.RTOMs, "rto_ms")
		b.ReportMetric(res.ReplayMs, "replay_ms")
		b.ReportMetric(res.LogOpenMs, "log_open_ms")
	}
}
