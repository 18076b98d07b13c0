package perf

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runqueueWait returns the time the process's threads have spent runnable
// but waiting for a CPU (the second field of /proc/self/task/*/schedstat),
// summed over the threads alive now; 0 if the kernel does not say. On a
// shared machine it tells a log starved of CPU from one bound by its disk.
func runqueueWait() time.Duration {
	paths, _ := filepath.Glob("/proc/self/task/*/schedstat")
	var sum time.Duration
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			sum += time.Duration(ns)
		}
	}
	return sum
}
