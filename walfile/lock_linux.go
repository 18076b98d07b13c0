package walfile

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/cowbook/cowbook/internal/vfs"
)

// lockFile takes an exclusive, non-blocking flock on f, so that a second
// process opening the same log for writing fails instead of interleaving
// records with the first. Files without a descriptor (MemFS) are not locked.
func lockFile(f vfs.File) error {
	fd, ok := vfs.Fd(f)
	if !ok {
		return nil
	}
	for {
		err := unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return fmt.Errorf("%w: %s", ErrLocked, f.Name())
		default:
			return fmt.Errorf("walfile: lock %s: %w", f.Name(), err)
		}
	}
}
