package node

import (
	"bytes"
	"sync"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/mmapsnap"
)

// Snapshotter captures the engine's arena and writes it as a snapshot.
//
// The node calls Capture on the engine goroutine, between two commands:
// the arena holds exactly the state after meta.Seq and does not change
// until Capture returns. The returned write function runs later on another
// goroutine, only once the log is durable through meta.Seq, and must
// publish the snapshot in dir durably (mmapsnap.Write does: temporary file,
// fsync, rename, fsync of dir) or return an error and publish nothing. The
// node never has two snapshots in flight: a Snapshotter may reuse its
// buffers from one to the next. hot lists the spans of the arena written
// at random (the engine's order-id index, the owner table): a fork-based
// snapshotter takes them out of copy-on-write sharing (cow.Meta.Hot);
// others may ignore it.
type Snapshotter interface {
	Capture(arena []byte, hot []engine.Span, meta mmapsnap.Meta) (write func(dir string) error, pause time.Duration, err error)
	// Close releases what the snapshotter holds; no call follows it.
	Close() error
}

// InProcess is the Snapshotter that copies the arena into a buffer of its
// own on the engine goroutine (the pause is one memcpy of the arena) and
// writes the copy with mmapsnap.Write. It needs no helper process, so it
// works over any vfs.FS, an in-memory one included.
type InProcess struct {
	// Opts configures mmapsnap.Write.
	Opts mmapsnap.Options
	mu   sync.Mutex // held by prepare in the background and by Capture
	buf  []byte
}

// prepare allocates and faults in the copy buffer, so that the first
// snapshot does not pay for it on the engine thread.
func (s *InProcess) prepare(size int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) == size {
		return nil
	}
	if s.buf != nil {
		_ = engine.FreeArena(s.buf)
		s.buf = nil
	}
	b, err := engine.AllocArena(size)
	if err != nil {
		return err
	}
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0 // touch every page now
	}
	s.buf = b
	return nil
}

// Capture implements Snapshotter.
func (s *InProcess) Capture(arena []byte, _ []engine.Span, meta mmapsnap.Meta) (func(string) error, time.Duration, error) {
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.buf) != len(arena) {
		if s.buf != nil {
			_ = engine.FreeArena(s.buf)
			s.buf = nil
		}
		b, err := engine.AllocArena(len(arena))
		if err != nil {
			return nil, 0, err
		}
		s.buf = b
	}
	copy(s.buf, arena)
	pause := time.Since(start)
	buf := s.buf
	return func(dir string) error {
		_, err := mmapsnap.Write(dir, meta, bytes.NewReader(buf), s.Opts)
		return err
	}, pause, nil
}

// Close implements Snapshotter.
func (s *InProcess) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.buf == nil {
		return nil
	}
	err := engine.FreeArena(s.buf)
	s.buf = nil
	return err
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
