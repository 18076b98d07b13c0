package placement

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// PinThread locks the calling goroutine to its OS thread and pins that
// thread to cpu. The returned release restores the thread's previous CPU
// mask and unlocks it; call it from the same goroutine. If restoring
// fails, release leaves the goroutine locked, so the Go runtime destroys
// the thread when the goroutine exits instead of handing a pinned thread to
// other goroutines. To move a pinned thread to another CPU, release it
// first: the CPU must be in the thread's current mask.
func PinThread(cpu int) (release func() error, err error) {
	if cpu < 0 || cpu >= maxCPUs() {
		return nil, fmt.Errorf("%w: cpu %d (the kernel CPU set holds 0-%d)", ErrNoSuchCPU, cpu, maxCPUs()-1)
	}
	runtime.LockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("%w: sched_getaffinity: %v", ErrRefused, err)
	}
	if !old.IsSet(cpu) {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("%w: cpu %d is not among the CPUs this process may use (%s); check taskset, the cgroup cpuset and /sys/devices/system/cpu/online",
			ErrNoSuchCPU, cpu, CPUList(&old))
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("%w: sched_setaffinity(cpu %d): %v", ErrRefused, cpu, err)
	}
	return func() error {
		if err := unix.SchedSetaffinity(0, &old); err != nil {
			return fmt.Errorf("%w: restoring CPU mask %s: %v (thread stays locked and dies with its goroutine)", ErrRefused, CPUList(&old), err)
		}
		runtime.UnlockOSThread()
		return nil
	}, nil
}

// PinProcess pins every thread of process pid to cpu; threads the process
// creates afterwards inherit the mask from their creator. It is how the
// snapshot helper is moved off the engine's CPU. pid 0 means this process;
// pinning this process also moves the engine thread, so pin the engine
// with PinThread afterwards.
func PinProcess(pid, cpu int) error {
	if cpu < 0 || cpu >= maxCPUs() {
		return fmt.Errorf("%w: cpu %d (the kernel CPU set holds 0-%d)", ErrNoSuchCPU, cpu, maxCPUs()-1)
	}
	proc := "self"
	if pid != 0 {
		proc = strconv.Itoa(pid)
	}
	var set unix.CPUSet
	set.Set(cpu)
	// Threads may be created while we walk the list: repeat until a walk
	// finds no thread we have not pinned yet.
	done := map[int]bool{}
	for {
		ents, err := os.ReadDir("/proc/" + proc + "/task")
		if err != nil {
			return fmt.Errorf("%w: listing threads of process %s: %v", ErrRefused, proc, err)
		}
		fresh := 0
		for _, e := range ents {
			tid, err := strconv.Atoi(e.Name())
			if err != nil || done[tid] {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue // the thread exited meanwhile
				}
				if errors.Is(err, unix.EINVAL) {
					return fmt.Errorf("%w: cpu %d is not usable by process %s: %v", ErrNoSuchCPU, cpu, proc, err)
				}
				return fmt.Errorf("%w: sched_setaffinity(thread %d, cpu %d): %v", ErrRefused, tid, cpu, err)
			}
			done[tid] = true
			fresh++
		}
		if fresh == 0 {
			return nil
		}
	}
}

// LockMemory locks every current and future page of the process in RAM
// (mlockall(MCL_CURRENT|MCL_FUTURE)), so the arena and the Go heap are
// never swapped out. It refuses, before calling mlockall, when the process
// has a finite RLIMIT_MEMLOCK and no CAP_IPC_LOCK: with MCL_FUTURE every
// later allocation beyond the limit would fail and the Go runtime would
// abort, which is worse than running unlocked.
func LockMemory() error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		return fmt.Errorf("%w: getrlimit(RLIMIT_MEMLOCK): %v", ErrRefused, err)
	}
	if err := mlockAllowed(lim.Cur, hasCapIPCLock()); err != nil {
		return err
	}
	if err := unix.Mlockall(unix.MCL_CURRENT | unix.MCL_FUTURE); err != nil {
		return fmt.Errorf("%w: mlockall: %v (RLIMIT_MEMLOCK %s; free memory may be short)", ErrRefused, err, limitString(lim.Cur))
	}
	return nil
}

// UnlockMemory undoes LockMemory (munlockall).
func UnlockMemory() error {
	if err := unix.Munlockall(); err != nil {
		return fmt.Errorf("%w: munlockall: %v", ErrRefused, err)
	}
	return nil
}

// mlockAllowed decides whether mlockall(MCL_FUTURE) is safe to ask for.
func mlockAllowed(limit uint64, capIPCLock bool) error {
	if capIPCLock || limit == unix.RLIM_INFINITY {
		return nil
	}
	return fmt.Errorf("%w: RLIMIT_MEMLOCK is %s and the process lacks CAP_IPC_LOCK; locking all memory would make later allocations fail. "+
		"Set LimitMEMLOCK=infinity in the systemd unit, `ulimit -l unlimited`, or a memlock line in /etc/security/limits.conf",
		ErrRefused, limitString(limit))
}

func limitString(v uint64) string {
	if v == unix.RLIM_INFINITY {
		return "unlimited"
	}
	return fmt.Sprintf("%d bytes", v)
}

func hasCapIPCLock() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_IPC_LOCK/32].Effective&(1<<(unix.CAP_IPC_LOCK%32)) != 0
}

// Prefault faults in every page of b for writing, with
// MADV_POPULATE_WRITE where the kernel has it and by touching each page
// otherwise, and says which it used. Call it before b is shared with other
// goroutines: the fallback rewrites one byte per page in place.
func Prefault(b []byte) (PrefaultMethod, error) {
	err := PrefaultWith(b, PopulateWrite)
	if err == nil {
		return PopulateWrite, nil
	}
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.14 do not know MADV_POPULATE_WRITE.
		return TouchPages, PrefaultWith(b, TouchPages)
	}
	return 0, err
}

// PrefaultWith faults in b with the given method.
func PrefaultWith(b []byte, m PrefaultMethod) error {
	if len(b) == 0 {
		return nil
	}
	page := os.Getpagesize()
	switch m {
	case PopulateWrite:
		start := uintptr(unsafe.Pointer(&b[0]))
		aligned := start &^ uintptr(page-1)
		length := uintptr(len(b)) + start - aligned
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, aligned, length, unix.MADV_POPULATE_WRITE)
		if errno != 0 {
			return fmt.Errorf("%w: madvise(MADV_POPULATE_WRITE, %d bytes): %w", ErrRefused, len(b), errno)
		}
		return nil
	case TouchPages:
		// Start at the first page boundary inside b, then every page.
		first := int(uintptr(page)-uintptr(unsafe.Pointer(&b[0]))%uintptr(page)) % page
		touch(b[0:1], 1, 0)
		if first < len(b) {
			touch(b[first:], page, 0)
		}
		return nil
	}
	return fmt.Errorf("placement: unknown prefault method %d", m)
}

func maxCPUs() int { return len(unix.CPUSet{}) * int(unsafe.Sizeof(unix.CPUSet{}[0])) * 8 }

// CPUList formats a CPU mask the way the kernel does ("0-3,8").
func CPUList(set *unix.CPUSet) string {
	var parts []string
	n := maxCPUs()
	for i := 0; i < n; i++ {
		if !set.IsSet(i) {
			continue
		}
		j := i
		for j+1 < n && set.IsSet(j+1) {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(i))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", i, j))
		}
		i = j
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}
