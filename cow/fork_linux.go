package cow

// This file is the only place in cowbook that forks the Go runtime without
// exec'ing. Everything unsafe about it lives here. Read it whole before
// changing a line.
//
// Why it is safe. A fork copies only the calling thread; the child shares
// none of the runtime's other threads, so the runtime in the child is a
// frozen picture that must never run again: no scheduler, no allocator, no
// GC, no stack growth, no signal handler, no race detector. The child
// therefore executes exactly one function, streamChild, and everything it
// calls is either nosplit, allocation-free and race-free Go that touches only
// its argument block, or a raw syscall stub (syscall.RawSyscall6 →
// internal/runtime/syscall/linux.Syscall6, both assembly-backed and nosplit).
// The test TestChildPathIsSyscallOnly disassembles the built test binary and
// fails if the child path calls anything else, because //go:nosplit does not
// propagate to callees and a stray call (a bounds-check panic, a write
// barrier, morestack, a race hook) would silently reintroduce the runtime.
//
// The sequence, mirroring syscall.forkAndExecInChild1:
//
//	parent                                  child (copy of the calling thread)
//	runtime_BeforeFork: m.locks++,
//	  block all signals, poison stackguard
//	clone(SIGCHLD|CLONE_PIDFD) ───────────▶ returns 0
//	runtime_AfterFork: restore mask,        prctl(PDEATHSIG, SIGKILL); getppid check
//	  stackguard, m.locks--                 prctl(DUMPABLE, 0); prlimit(CORE, 0)
//	close(write end of pipe)                close_range(every fd but the pipe)
//	                                        vmsplice(header), vmsplice(arena) in a loop
//	                                        exit_group(0), or a code from exitXxx
//
// Signals stay blocked in the child for its whole life (the mask that
// runtime_BeforeFork installed is inherited), so no Go signal handler can run
// there; SIGKILL, which cannot be blocked, is how the parent stops it.
//
// vmsplice hands the pipe references to the child's pages rather than copies.
// The pages are the ones shared copy-on-write with the parent at the fork, so
// the reader sees the arena as it was at the fork even after the child exits
// and the parent writes: a write to a page that the pipe still references
// copies it (the kernel reuses an anonymous page on a write fault only when
// nothing else holds a reference).

import (
	"syscall"
	"unsafe"
)

// Raw syscall numbers and constants for linux/amd64 and linux/arm64 that
// package syscall does not name.
const (
	cloneFlags = uintptr(syscall.SIGCHLD) | 0x00001000 // CLONE_PIDFD: the pidfd is stored at parent_tid

	sysCloseRange = 436 // close_range(2), the same number on every Linux architecture since 5.9

	prSetPdeathsig = 1
	prSetDumpable  = 4
	rlimitCore     = 4

	// spliceFGift is deliberately not used: the pages stay owned by the
	// child's address space and are released when the pipe is drained.
	spliceNone = 0
)

// Exit statuses of the child. Zero means the whole arena went into the pipe.
const (
	exitPdeathsig  = 10 // prctl(PR_SET_PDEATHSIG) failed
	exitOrphan     = 11 // the parent died before the child could watch for it
	exitDumpable   = 12 // prctl(PR_SET_DUMPABLE) failed
	exitRlimit     = 13 // prlimit(RLIMIT_CORE) failed
	exitCloseRange = 14 // close_range failed
	exitHeader     = 15 // vmsplice of the header failed (usually EPIPE: the reader went away)
	exitArena      = 16 // vmsplice of the arena failed (usually EPIPE)
)

// Linknamed runtime fork hooks. The runtime publishes them for packages
// outside the standard library ("Do not remove or change the type
// signature", go.dev/issue/67401), so this builds without
// -ldflags=-checklinkname=0.

//go:linkname runtimeBeforeFork syscall.runtime_BeforeFork
func runtimeBeforeFork()

//go:linkname runtimeAfterFork syscall.runtime_AfterFork
func runtimeAfterFork()

// iovec is struct iovec.
type iovec struct {
	base uintptr
	len  uintptr
}

// forkArgs is everything the child reads. It is prepared by the parent
// before the fork and lives on the Go heap; the child sees its own
// copy-on-write copy and writes only to iov.
type forkArgs struct {
	pidfd  int32   // written by the kernel in the parent (CLONE_PIDFD)
	pipeWr uintptr // the write end of the data pipe, the one fd the child keeps
	ppid   uintptr // the parent's pid, to detect a parent that died before PDEATHSIG was set
	hdr    uintptr // address of the header bytes (headerSize of them)
	arena  uintptr // address of the arena
	size   uintptr // length of the arena
	rlim   [2]uint64
	iov    iovec
}

// forkStream forks a child that streams the header and the arena into
// a.pipeWr and exits. It returns the child's pid and pidfd in the parent.
// The caller must have locked its goroutine to its OS thread (the child's
// PR_SET_PDEATHSIG is tied to this thread) and must keep the header and the
// arena alive until the child has exited.
//
//go:norace
//go:nosplit
func forkStream(a *forkArgs) (pid int, pidfd int, errno syscall.Errno) {
	runtimeBeforeFork()
	r1, _, e := syscall.RawSyscall6(syscall.SYS_CLONE, cloneFlags, 0, uintptr(unsafe.Pointer(&a.pidfd)), 0, 0, 0)
	if e == 0 && r1 == 0 {
		streamChild(a) // never returns
	}
	runtimeAfterFork()
	if e != 0 {
		return 0, -1, e
	}
	return int(r1), int(a.pidfd), 0
}

// streamChild is the whole life of the child. It must not return.
//
//go:norace
//go:nosplit
func streamChild(a *forkArgs) {
	// Die with the parent thread. If the parent died between the clone and
	// this prctl, the signal will never come: check the parent is still ours.
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetPdeathsig, uintptr(syscall.SIGKILL), 0, 0, 0, 0); e != 0 {
		childExit(exitPdeathsig)
	}
	if ppid, _, _ := syscall.RawSyscall6(syscall.SYS_GETPPID, 0, 0, 0, 0, 0, 0); ppid != a.ppid {
		childExit(exitOrphan)
	}
	// A crash here must not write the arena to a core file.
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetDumpable, 0, 0, 0, 0, 0); e != 0 {
		childExit(exitDumpable)
	}
	if _, _, e := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, 0, rlimitCore, uintptr(unsafe.Pointer(&a.rlim)), 0, 0, 0); e != 0 {
		childExit(exitRlimit)
	}
	// Drop every descriptor but the pipe: the child must not keep the
	// helper's control socket, log files or client sockets open.
	if a.pipeWr > 0 {
		if _, _, e := syscall.RawSyscall6(sysCloseRange, 0, a.pipeWr-1, 0, 0, 0, 0); e != 0 {
			childExit(exitCloseRange)
		}
	}
	if _, _, e := syscall.RawSyscall6(sysCloseRange, a.pipeWr+1, ^uintptr(0), 0, 0, 0, 0); e != 0 {
		childExit(exitCloseRange)
	}
	if !spliceAll(a, a.hdr, headerSize) {
		childExit(exitHeader)
	}
	if !spliceAll(a, a.arena, a.size) {
		childExit(exitArena)
	}
	// Spelled out rather than childExit(0) so that the compiler, and the
	// objdump test, can see this function has no return.
	for {
		syscall.RawSyscall6(syscall.SYS_EXIT_GROUP, 0, 0, 0, 0, 0, 0)
	}
}

// spliceAll vmsplices n bytes at p into the pipe, looping on partial
// transfers (vmsplice returns as soon as the pipe is full) and on EINTR.
//
//go:norace
//go:nosplit
func spliceAll(a *forkArgs, p, n uintptr) bool {
	for n > 0 {
		a.iov.base = p
		a.iov.len = n
		r1, _, e := syscall.RawSyscall6(syscall.SYS_VMSPLICE, a.pipeWr, uintptr(unsafe.Pointer(&a.iov)), 1, spliceNone, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 || r1 == 0 {
			return false
		}
		p += r1
		n -= r1
	}
	return true
}

// childExit ends the child process without running anything of the
// runtime's.
//
//go:norace
//go:nosplit
func childExit(code uintptr) {
	for {
		syscall.RawSyscall6(syscall.SYS_EXIT_GROUP, code, 0, 0, 0, 0, 0)
	}
}

// prepare fills a for one fork. Addresses are stored as uintptr because
// the child must not touch the garbage collector's view of pointers; the
// caller keeps hdr and arena alive (the arena is an mmap outside the Go heap
// in practice, and hdr is a field of the Snapshotter).
func (a *forkArgs) prepare(pipeWr, ppid int, hdr *[headerSize]byte, arena []byte) {
	*a = forkArgs{
		pidfd:  -1,
		pipeWr: uintptr(pipeWr),
		ppid:   uintptr(ppid),
		hdr:    uintptr(unsafe.Pointer(&hdr[0])),
		arena:  arenaAddr(arena),
		size:   uintptr(len(arena)),
	}
}

// arenaAddr returns the address of the arena's first byte.
func arenaAddr(arena []byte) uintptr {
	if len(arena) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&arena[0]))
}
