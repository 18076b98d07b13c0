package cow

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The status page's words (layout in doc.go).
const (
	wordMagic = iota
	wordPid
	wordState
	wordID
	wordSeq
	wordDone
	wordTotal
	statusWords
)

const statusMagic = 0x636f777374617431 // "cowstat1"

const statusPageSize = 4096

// State is what the helper is doing, as published on the status page.
type State uint64

// Helper states.
const (
	StateIdle      State = iota // waiting for a request
	StateReceiving              // reading the arena and writing the file
	StateDone                   // the last snapshot was published
	StateFailed                 // the last snapshot failed
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateReceiving:
		return "receiving"
	case StateDone:
		return "done"
	case StateFailed:
		return "failed"
	}
	return fmt.Sprintf("state(%d)", uint64(s))
}

// Progress is a view of the status page.
type Progress struct {
	HelperPid int
	State     State
	ID        uint64
	Seq       uint64
	Done      int64 // arena bytes the helper has received
	Total     int64 // arena bytes expected
}

// statusPage is a shared mapping of the status memfd. Both processes map
// the same page; words are accessed only with atomic loads and stores, which
// on the supported architectures are coherent across processes.
type statusPage struct {
	mem   []byte
	words *[statusWords]atomic.Uint64
}

// newStatusMemfd creates the status memfd (one zeroed page).
func newStatusMemfd() (int, error) {
	fd, err := unix.MemfdCreate("cowbook-cow-status", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("cow: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, statusPageSize); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("cow: ftruncate status page: %w", err)
	}
	return fd, nil
}

// mapStatus maps the status page of memfd fd.
func mapStatus(fd int) (*statusPage, error) {
	mem, err := unix.Mmap(fd, 0, statusPageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("cow: mmap status page: %w", err)
	}
	// The page is page-aligned, so every uint64 word is 8-byte aligned as
	// atomic operations require.
	return &statusPage{mem: mem, words: (*[statusWords]atomic.Uint64)(unsafe.Pointer(&mem[0]))}, nil
}

func (p *statusPage) unmap() {
	if p != nil && p.mem != nil {
		unix.Munmap(p.mem)
		p.mem, p.words = nil, nil
	}
}

func (p *statusPage) read() Progress {
	w := p.words
	if w[wordMagic].Load() != statusMagic {
		return Progress{}
	}
	return Progress{
		HelperPid: int(w[wordPid].Load()),
		State:     State(w[wordState].Load()),
		ID:        w[wordID].Load(),
		Seq:       w[wordSeq].Load(),
		Done:      int64(w[wordDone].Load()),
		Total:     int64(w[wordTotal].Load()),
	}
}
