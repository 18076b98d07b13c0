package placement

import (
	"errors"
	"fmt"
)

var (
	// ErrRefused is returned when the kernel refuses a placement request:
	// sched_setaffinity, mlockall or madvise failed, or a resource limit
	// makes the request unsafe. The wrapped message names the syscall,
	// the errno and the setting to change.
	ErrRefused = errors.New("placement: refused by the kernel")

	// ErrNoSuchCPU is returned when a CPU number is negative, beyond the
	// kernel's CPU set size, or outside the CPUs this process may run on
	// (its affinity mask, which cgroups and taskset narrow).
	ErrNoSuchCPU = errors.New("placement: no such CPU")

	// ErrUnsupported is returned on platforms without the needed syscalls.
	ErrUnsupported = errors.New("placement: not supported on this platform")
)

// Options says where to place the engine and its helpers. The zero value
// places nothing: no pinning, no locking, no pre-faulting.
type Options struct {
	// PinEngine pins the engine goroutine's OS thread to EngineCPU.
	PinEngine bool
	EngineCPU int
	// PinWriter pins the log writer goroutine's OS thread, and the
	// snapshot helper process, to WriterCPU.
	PinWriter bool
	WriterCPU int
	// Mlock locks all current and future memory of the process
	// (mlockall(MCL_CURRENT|MCL_FUTURE)).
	Mlock bool
	// Prefault faults in the arena (or any buffer handed to Prefault)
	// before the first command, so that no command pays for a page fault.
	Prefault bool
}

// PrefaultMethod says how a region was faulted in.
type PrefaultMethod int

const (
	// PopulateWrite uses madvise(MADV_POPULATE_WRITE) (Linux 5.14+):
	// one syscall, no user-space loop, and it fails cleanly with ENOMEM
	// instead of a SIGBUS or an OOM kill in the middle of the loop.
	PopulateWrite PrefaultMethod = iota + 1
	// TouchPages writes one byte per page, for older kernels.
	TouchPages
)

func (m PrefaultMethod) String() string {
	switch m {
	case PopulateWrite:
		return "madvise(MADV_POPULATE_WRITE)"
	case TouchPages:
		return "touch each page"
	}
	return "none"
}

// touch ORs z (always zero) into one byte every step bytes. z comes from
// the caller so the compiler cannot prove the store is a no-op and drop
// it; noinline keeps it that way.
//
//go:noinline
func touch(b []byte, step int, z byte) {
	for i := 0; i < len(b); i += step {
		b[i] |= z
	}
}

// Validate rejects options that cannot be what the operator meant.
func (o Options) Validate() error {
	if o.PinEngine && o.EngineCPU < 0 {
		return fmt.Errorf("%w: engine cpu %d", ErrNoSuchCPU, o.EngineCPU)
	}
	if o.PinWriter && o.WriterCPU < 0 {
		return fmt.Errorf("%w: writer cpu %d", ErrNoSuchCPU, o.WriterCPU)
	}
	if o.PinEngine && o.PinWriter && o.EngineCPU == o.WriterCPU {
		return fmt.Errorf("placement: engine and log writer both pinned to cpu %d would take turns on it; give the writer another CPU", o.EngineCPU)
	}
	return nil
}

// PinEngineThread pins the calling goroutine's thread to EngineCPU when
// PinEngine is set; otherwise it does nothing and release is a no-op.
func (o Options) PinEngineThread() (release func() error, err error) {
	if !o.PinEngine {
		return func() error { return nil }, nil
	}
	return PinThread(o.EngineCPU)
}

// PinWriterThread pins the calling goroutine's thread to WriterCPU when
// PinWriter is set; otherwise it does nothing and release is a no-op.
func (o Options) PinWriterThread() (release func() error, err error) {
	if !o.PinWriter {
		return func() error { return nil }, nil
	}
	return PinThread(o.WriterCPU)
}

// LockIfRequested calls LockMemory when Mlock is set.
func (o Options) LockIfRequested() error {
	if !o.Mlock {
		return nil
	}
	return LockMemory()
}

// PrefaultIfRequested calls Prefault on b when Prefault is set and
// returns the method used (0 when nothing was done).
func (o Options) PrefaultIfRequested(b []byte) (PrefaultMethod, error) {
	if !o.Prefault {
		return 0, nil
	}
	return Prefault(b)
}
