//go:build !linux

package walfile

import "github.com/cowbook/cowbook/internal/vfs"

// lockFile does nothing where flock is not wired up; cowbook runs on Linux.
func lockFile(vfs.File) error { return nil }
