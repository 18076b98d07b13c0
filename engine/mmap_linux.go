package engine

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// AllocArena maps size bytes (rounded up to HugePage) of zeroed anonymous
// memory, aligned to HugePage, private, without swap reservation, and asks
// for transparent huge pages. The memory is outside the Go heap: the garbage
// collector never scans it. Free it with FreeArena.
func AllocArena(size int) ([]byte, error) {
	if size <= 0 {
		return nil, fmt.Errorf("%w: arena size %d", ErrConfig, size)
	}
	n := int(alignUp(uint64(size), HugePage))
	// Over-map by one huge page and trim, since mmap only promises page
	// alignment.
	p, err := unix.MmapPtr(-1, 0, nil, uintptr(n+HugePage), unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("engine: mmap %d bytes: %w", n+HugePage, err)
	}
	raw := unsafe.Slice((*byte)(p), n+HugePage)
	addr := uintptr(p)
	skip := int(alignUp(uint64(addr), HugePage) - uint64(addr))
	if skip > 0 {
		if err := munmap(raw[:skip]); err != nil {
			return nil, err
		}
	}
	if tail := HugePage - skip; tail > 0 {
		if err := munmap(raw[skip+n:]); err != nil {
			return nil, err
		}
	}
	mem := raw[skip : skip+n : skip+n]
	// Huge pages are an optimisation: a kernel without THP still works.
	_ = unix.Madvise(mem, unix.MADV_HUGEPAGE)
	return mem, nil
}

// FreeArena unmaps an arena returned by AllocArena.
func FreeArena(mem []byte) error {
	if len(mem) == 0 {
		return nil
	}
	return munmap(mem)
}

func munmap(b []byte) error {
	if err := unix.MunmapPtr(unsafe.Pointer(&b[0]), uintptr(len(b))); err != nil {
		return fmt.Errorf("engine: munmap: %w", err)
	}
	return nil
}

// Prefault allocates every page of the arena now (MADV_POPULATE_WRITE), so
// that no command pays a first-touch page fault later. The bytes do not
// change. Servers call it at start; benchmarks call it before timing.
func (e *Engine) Prefault() error {
	err := unix.Madvise(e.mem, unix.MADV_POPULATE_WRITE)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.14: write each page's first byte back to
		// itself, which faults the page in without changing it.
		for i := 0; i < len(e.mem); i += 4096 {
			b := e.mem[i]
			e.mem[i] = b
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("engine: prefault arena: %w", err)
	}
	return nil
}
