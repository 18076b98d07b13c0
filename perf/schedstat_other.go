//go:build !linux

package perf

import "time"

// runqueueWait is not measured outside Linux.
func runqueueWait() time.Duration { return 0 }
