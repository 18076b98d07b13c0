//go:build !linux

package node

import "time"

// evictFiles is a no-op off Linux: the cold-log figures are then warm.
func evictFiles(dir string) error { return nil }

// processCPU is not measured off Linux: the CPU figures are then 0.
func processCPU() time.Duration { return 0 }
