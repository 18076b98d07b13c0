package cow

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Meta describes one snapshot.
type Meta struct {
	// Seq is the sequence number of the last command applied to the arena.
	Seq uint64
	// LayoutVersion is the engine's arena layout version.
	LayoutVersion uint32
	// ArenaSize is the arena's length in bytes; Snapshot sets it.
	ArenaSize int64
	// StateChecksum is the engine's state hash at Seq, carried into the
	// snapshot file so that recovery can check the state it loads.
	StateChecksum uint64
	// Hot lists the spans of the arena the caller will write at random
	// while the snapshot runs (the engine's order-id index: see
	// engine.IndexSpans). In fork mode, right after the fork, a thread of
	// the Snapshotter gives the caller pages of its own there (see
	// privatizeHot), so that its writes cost no copy-on-write fault each.
	// Only Snapshot reads it; a Sink sees it empty.
	Hot []Span
}

// Span is a byte range [Off, Off+Len) of an arena.
type Span struct {
	Off, Len int
}

// Published is what a Sink reports about the file it wrote.
type Published struct {
	Path      string
	FileBytes int64
}

// A Sink writes one snapshot in the helper process. It must read exactly
// m.ArenaSize bytes from r, and it must publish (make the file visible under
// its final name, durably) only after reading all of them and only if it
// returns nil. r returns io.ErrUnexpectedEOF if the stream ends early (the
// child died or was killed), so a sink that passes every read error up never
// publishes a torn snapshot.
type Sink func(m Meta, r io.Reader) (Published, error)

// Descriptors the helper process inherits from Start.
const (
	helperCtrlFd   = 3
	helperStatusFd = 4
)

// ServeHelper is the helper process's main loop: it serves snapshot
// requests from the node on fd 3 with sink, reporting progress on the status
// page at fd 4, until the node closes the control socket. The process calling
// it must have been started by Start (Options.HelperArgs names the hidden
// command that leads here).
func ServeHelper(sink Sink) error {
	return serveHelper(helperCtrlFd, helperStatusFd, sink)
}

func serveHelper(ctrl, statusFd int, sink Sink) error {
	// Refuse to run on whatever happens to be at fds 3 and 4 when started
	// by hand.
	if typ, err := unix.GetsockoptInt(ctrl, unix.SOL_SOCKET, unix.SO_TYPE); err != nil || typ != unix.SOCK_SEQPACKET {
		return fmt.Errorf("%w: fd %d is not the node's control socket (the helper is started by the node)", ErrProtocol, ctrl)
	}
	var fst unix.Stat_t
	if err := unix.Fstat(statusFd, &fst); err != nil || fst.Size != statusPageSize {
		return fmt.Errorf("%w: fd %d is not the node's status page", ErrProtocol, statusFd)
	}
	st, err := mapStatus(statusFd)
	if err != nil {
		return err
	}
	defer st.unmap()
	unix.Close(statusFd)
	st.words[wordPid].Store(uint64(os.Getpid()))
	st.words[wordState].Store(uint64(StateIdle))
	st.words[wordMagic].Store(statusMagic)
	for {
		var req request
		fd, err := recvMsg(ctrl, &req)
		if err == io.EOF {
			return nil // the node closed its end: it is shutting down or gone
		}
		if err != nil {
			return fmt.Errorf("cow: helper: receive request: %w", err)
		}
		rep := handle(st, fd, req, sink)
		if err := sendMsg(ctrl, rep, -1); err != nil {
			return fmt.Errorf("cow: helper: send reply: %w", err)
		}
	}
}

// handle serves one request and always closes fd.
func handle(st *statusPage, fd int, req request, sink Sink) reply {
	rep := reply{ID: req.ID, Seq: req.Seq}
	w := st.words
	w[wordState].Store(uint64(StateReceiving))
	w[wordID].Store(req.ID)
	w[wordSeq].Store(req.Seq)
	w[wordDone].Store(0)
	w[wordTotal].Store(uint64(req.ArenaSize))
	err := serveOne(st, fd, req, sink, &rep)
	if err != nil {
		rep.Error = err.Error()
		rep.Errno = errnoOf(err)
		w[wordState].Store(uint64(StateFailed))
	} else {
		w[wordState].Store(uint64(StateDone))
	}
	return rep
}

func serveOne(st *statusPage, fd int, req request, sink Sink, rep *reply) error {
	if fd < 0 {
		return fmt.Errorf("%w: request without a descriptor", ErrProtocol)
	}
	if req.ArenaSize <= 0 {
		unix.Close(fd)
		return fmt.Errorf("%w: arena size %d", ErrProtocol, req.ArenaSize)
	}
	m := Meta{Seq: req.Seq, LayoutVersion: req.LayoutVersion, ArenaSize: req.ArenaSize, StateChecksum: req.StateChecksum}
	var src io.Reader
	switch req.Op {
	case opPipe:
		f := os.NewFile(uintptr(fd), "cow-pipe")
		defer f.Close() // closing the read end early makes a still-running child fail with EPIPE
		var hdr [headerSize]byte
		if _, err := io.ReadFull(f, hdr[:]); err != nil {
			return fmt.Errorf("cow: read header: %w", unexpected(err))
		}
		if err := checkHeader(hdr[:], req); err != nil {
			return err
		}
		src = f
	case opMemfd:
		mem, err := unix.Mmap(fd, 0, int(req.ArenaSize), unix.PROT_READ, unix.MAP_SHARED)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("cow: mmap arena memfd: %w", err)
		}
		defer unix.Munmap(mem)
		src = &sliceReader{b: mem}
	default:
		unix.Close(fd)
		return fmt.Errorf("%w: unknown op %q", ErrProtocol, req.Op)
	}
	body := &bodyReader{r: src, left: req.ArenaSize, done: &st.words[wordDone]}
	pub, err := sink(m, body)
	rep.Bytes = req.ArenaSize - body.left
	rep.Checksum = body.crc
	if err != nil {
		return err
	}
	if body.left != 0 {
		return fmt.Errorf("%w: sink returned after %d of %d bytes", ErrSink, rep.Bytes, req.ArenaSize)
	}
	rep.Path, rep.FileBytes = pub.Path, pub.FileBytes
	return nil
}

// bodyReader hands the sink exactly the arena's bytes, checksums them,
// publishes progress, and turns an early end of stream into
// io.ErrUnexpectedEOF so that no sink mistakes it for a complete snapshot.
type bodyReader struct {
	r    io.Reader
	left int64
	crc  uint32
	done interface{ Add(uint64) uint64 }
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	b.crc = crc32.Update(b.crc, castagnoli, p[:n])
	b.done.Add(uint64(n))
	if err == io.EOF {
		if b.left > 0 {
			return n, io.ErrUnexpectedEOF
		}
		err = nil
	}
	if b.left == 0 && err == nil {
		return n, nil
	}
	return n, err
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
