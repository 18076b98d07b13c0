//go:build !linux

package walfile

import "github.com/cowbook/cowbook/internal/vfs"

// mapSegment is not used off Linux: Readers read segments into a buffer.
func mapSegment(fs vfs.FS, path string, private bool) ([]byte, func(), bool) {
	return nil, nil, false
}
