package cow

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkSnapshot measures the engine thread's pause per snapshot (the
// ns/op reported is the whole snapshot; pause-µs is the metric that
// matters) for THP arenas of several sizes.
func BenchmarkSnapshot(b *testing.B) {
	for _, mode := range []Mode{ModeFork, ModeStopTheWorld} {
		for _, mib := range []int{16, 128, 512} {
			b.Run(fmt.Sprintf("mode=%s/arena=%dMiB", mode, mib), func(b *testing.B) {
				s, _ := startTest(b, "", func(o *Options) { o.Mode = mode; o.ArenaSize = mib << 20 })
				arena := allocArena(b, mib<<20)
				fill(arena, 1)
				b.SetBytes(int64(len(arena)))
				b.ReportAllocs()
				var pause, clone time.Duration
				for b.Loop() {
					tk, err := s.Snapshot(arena, Meta{Seq: 1})
					if err != nil {
						b.Fatal(err)
					}
					if r := await(b, s, time.Minute); r.Err != nil {
						b.Fatal(r.Err)
					}
					pause += tk.Pause
					clone += tk.Clone
				}
				b.ReportMetric(float64(pause.Microseconds())/float64(b.N), "pause-µs")
				b.ReportMetric(float64(clone.Microseconds())/float64(b.N), "clone-µs")
			})
		}
	}
}
