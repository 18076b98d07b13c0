//go:build !linux

package hostcheck

import (
	"errors"
	"runtime"
)

var errNotLinux = errors.New("hostcheck: needs Linux, this is " + runtime.GOOS)

type hostProber struct{}

func (hostProber) rlimit(int) (uint64, error)         { return 0, errNotLinux }
func (hostProber) capIPCLock() bool                   { return false }
func (hostProber) dev(string) (uint32, uint32, error) { return 0, 0, errNotLinux }
func (hostProber) counters() (bool, string)           { return false, errNotLinux.Error() }
func (hostProber) dioAlign(string) (uint32, uint32, bool, error) {
	return 0, 0, false, errNotLinux
}
