//go:build !linux

package placement

import "fmt"

// PinThread is not supported outside Linux.
func PinThread(cpu int) (release func() error, err error) {
	return nil, fmt.Errorf("%w: pinning a thread", ErrUnsupported)
}

// PinProcess is not supported outside Linux.
func PinProcess(pid, cpu int) error { return fmt.Errorf("%w: pinning a process", ErrUnsupported) }

// LockMemory is not supported outside Linux.
func LockMemory() error { return fmt.Errorf("%w: mlockall", ErrUnsupported) }

// UnlockMemory is not supported outside Linux.
func UnlockMemory() error { return fmt.Errorf("%w: munlockall", ErrUnsupported) }

// Prefault touches each page of b.
func Prefault(b []byte) (PrefaultMethod, error) { return TouchPages, PrefaultWith(b, TouchPages) }

// PrefaultWith touches each page of b; only TouchPages is available.
func PrefaultWith(b []byte, m PrefaultMethod) error {
	if m != TouchPages {
		return fmt.Errorf("%w: %s", ErrUnsupported, m)
	}
	touch(b, 4096, 0)
	return nil
}
