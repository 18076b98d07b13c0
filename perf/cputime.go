package perf

import (
	"time"

	"golang.org/x/sys/unix"
)

// processCPU returns the CPU time the whole process has used.
func processCPU() time.Duration { return rusageCPU(unix.RUSAGE_SELF) }

// threadCPU returns the CPU time of the calling OS thread; the caller locks
// its goroutine to the thread for the measurement to mean anything.
func threadCPU() time.Duration { return rusageCPU(unix.RUSAGE_THREAD) }

func rusageCPU(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
