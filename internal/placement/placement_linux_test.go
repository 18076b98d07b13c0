package placement

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func allowedCPUs(t *testing.T) []int {
	t.Helper()
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var cpus []int
	for i := 0; i < maxCPUs(); i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

func TestPinThreadPinsAndRestores(t *testing.T) {
	cpus := allowedCPUs(t)
	for _, cpu := range cpus {
		done := make(chan error)
		go func() {
			var before unix.CPUSet
			_ = unix.SchedGetaffinity(0, &before)
			release, err := PinThread(cpu)
			if err != nil {
				done <- err
				return
			}
			var now unix.CPUSet
			if err := unix.SchedGetaffinity(0, &now); err != nil {
				done <- err
				return
			}
			if now.Count() != 1 || !now.IsSet(cpu) {
				t.Errorf("pinned to %d but thread mask is %s", cpu, CPUList(&now))
			}
			// The thread must actually run there.
			for i := 0; i < 1000; i++ {
				runtime.Gosched()
			}
			if err := release(); err != nil {
				done <- err
				return
			}
			var after unix.CPUSet
			runtime.LockOSThread()
			_ = unix.SchedGetaffinity(0, &after)
			runtime.UnlockOSThread()
			if after != before {
				t.Errorf("release left mask %s, want %s", CPUList(&after), CPUList(&before))
			}
			done <- nil
		}()
		if err := <-done; err != nil {
			t.Fatalf("cpu %d: %v", cpu, err)
		}
	}
}

func TestPinThreadRejectsCPUsOutsideTheMask(t *testing.T) {
	cpus := allowedCPUs(t)
	outside := cpus[len(cpus)-1] + 1
	for _, cpu := range []int{-1, maxCPUs(), 1 << 20, outside} {
		_, err := PinThread(cpu)
		if !errors.Is(err, ErrNoSuchCPU) {
			t.Errorf("PinThread(%d) = %v, want ErrNoSuchCPU", cpu, err)
		}
	}
}

func TestPinProcessPinsEveryThreadOfAChild(t *testing.T) {
	cpus := allowedCPUs(t)
	cpu := cpus[len(cpus)-1]
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := PinProcess(cmd.Process.Pid, cpu); err != nil {
		t.Fatal(err)
	}
	var got unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &got); err != nil {
		t.Fatal(err)
	}
	if got.Count() != 1 || !got.IsSet(cpu) {
		t.Fatalf("child mask %s, want %d", CPUList(&got), cpu)
	}
	if err := PinProcess(cmd.Process.Pid, -3); !errors.Is(err, ErrNoSuchCPU) {
		t.Errorf("PinProcess(-3) = %v", err)
	}
}

func TestMlockAllowed(t *testing.T) {
	if err := mlockAllowed(unix.RLIM_INFINITY, false); err != nil {
		t.Errorf("unlimited: %v", err)
	}
	if err := mlockAllowed(8<<20, true); err != nil {
		t.Errorf("CAP_IPC_LOCK: %v", err)
	}
	err := mlockAllowed(8<<20, false)
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "LimitMEMLOCK=infinity") {
		t.Errorf("finite limit without capability: %v", err)
	}
}

func TestLockMemory(t *testing.T) {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim); err != nil {
		t.Fatal(err)
	}
	err := LockMemory()
	if !hasCapIPCLock() && lim.Cur != unix.RLIM_INFINITY {
		if !errors.Is(err, ErrRefused) {
			t.Fatalf("LockMemory without permission = %v, want ErrRefused", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := UnlockMemory(); err != nil {
			t.Error(err)
		}
	}()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmLck:") && strings.Fields(line)[1] == "0" {
			t.Errorf("after mlockall: %s", line)
		}
	}
}

func resident(t *testing.T, b []byte) int {
	t.Helper()
	page := os.Getpagesize()
	vec := make([]byte, (len(b)+page-1)/page)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		t.Fatal("mincore:", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n
}

func TestPrefaultMakesEveryPageResident(t *testing.T) {
	page := os.Getpagesize()
	const pages = 64
	for _, m := range []PrefaultMethod{PopulateWrite, TouchPages} {
		t.Run(m.String(), func(t *testing.T) {
			b, err := unix.Mmap(-1, 0, pages*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = unix.Munmap(b) }()
			_ = unix.Madvise(b, unix.MADV_NOHUGEPAGE) // count 4 KiB pages
			if n := resident(t, b); n != 0 {
				t.Fatalf("fresh mapping has %d resident pages", n)
			}
			// An unaligned sub-slice still covers its first and last page.
			sub := b[page/2 : len(b)-page/2]
			err = PrefaultWith(sub, m)
			if m == PopulateWrite && errors.Is(err, unix.EINVAL) {
				t.Skip("kernel without MADV_POPULATE_WRITE")
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := resident(t, b); n != pages {
				t.Fatalf("%d of %d pages resident after prefault", n, pages)
			}
			for i := range b {
				if b[i] != 0 {
					t.Fatalf("prefault changed byte %d", i)
				}
			}
		})
	}
	if m, err := Prefault(nil); err != nil || m != PopulateWrite {
		t.Errorf("Prefault(nil) = %v, %v", m, err)
	}
}

func TestPrefaultReportsARefusal(t *testing.T) {
	page := os.Getpagesize()
	b, err := unix.Mmap(-1, 0, 4*page, unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Munmap(b) }()
	// A read-only mapping cannot be populated for writing.
	err = PrefaultWith(b, PopulateWrite)
	if errors.Is(err, unix.EINVAL) {
		t.Skip("kernel without MADV_POPULATE_WRITE")
	}
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("populate a read-only mapping: %v, want ErrRefused", err)
	}
}

func TestOptions(t *testing.T) {
	var zero Options
	if err := zero.Validate(); err != nil {
		t.Fatal(err)
	}
	release, err := zero.PinEngineThread()
	if err != nil || release() != nil {
		t.Fatal("zero options must not pin")
	}
	if m, err := zero.PrefaultIfRequested(make([]byte, 1)); m != 0 || err != nil {
		t.Fatal("zero options must not prefault")
	}
	same := Options{PinEngine: true, PinWriter: true, EngineCPU: 1, WriterCPU: 1}
	if err := same.Validate(); err == nil {
		t.Error("engine and writer on one CPU accepted")
	}
	if err := (Options{PinEngine: true, EngineCPU: -2}).Validate(); !errors.Is(err, ErrNoSuchCPU) {
		t.Errorf("negative cpu: %v", err)
	}
	cpus := allowedCPUs(t)
	o := Options{PinEngine: true, EngineCPU: cpus[0]}
	done := make(chan error)
	go func() {
		release, err := o.PinEngineThread()
		if err == nil {
			err = release()
		}
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCPUList(t *testing.T) {
	var s unix.CPUSet
	if got := CPUList(&s); got != "none" {
		t.Errorf("empty = %q", got)
	}
	for _, c := range []int{0, 1, 2, 3, 8, 10, 11} {
		s.Set(c)
	}
	if got := CPUList(&s); got != "0-3,8,10-11" {
		t.Errorf("got %q", got)
	}
}
