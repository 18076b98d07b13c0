package cow

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// headerSize is the size of the header the child writes before the arena.
const headerSize = 64

var headerMagic = [8]byte{'c', 'o', 'w', 's', 'n', 'a', 'p', 1}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Control-socket operations.
const (
	opPipe  = "pipe"  // the descriptor is a pipe's read end: header, then the arena
	opMemfd = "memfd" // the descriptor is a memfd holding the arena (stop-the-world)
)

// maxMessage bounds one control datagram.
const maxMessage = 64 << 10

type request struct {
	Op            string `json:"op"`
	ID            uint64 `json:"id"`
	Seq           uint64 `json:"seq"`
	LayoutVersion uint32 `json:"layout_version"`
	ArenaSize     int64  `json:"arena_size"`
	StateChecksum uint64 `json:"state_checksum"`
}

type reply struct {
	ID        uint64 `json:"id"`
	Seq       uint64 `json:"seq"`
	Bytes     int64  `json:"bytes"`
	Checksum  uint32 `json:"checksum"`
	FileBytes int64  `json:"file_bytes"`
	Path      string `json:"path,omitempty"`
	Error     string `json:"error,omitempty"`
	Errno     int    `json:"errno,omitempty"`
}

// putHeader encodes the pipe header (format in doc.go) into b.
func putHeader(b *[headerSize]byte, id, seq uint64, size int64, layout uint32) {
	*b = [headerSize]byte{}
	copy(b[0:8], headerMagic[:])
	binary.LittleEndian.PutUint64(b[8:], id)
	binary.LittleEndian.PutUint64(b[16:], seq)
	binary.LittleEndian.PutUint64(b[24:], uint64(size))
	binary.LittleEndian.PutUint32(b[32:], layout)
	binary.LittleEndian.PutUint32(b[60:], crc32.Checksum(b[:60], castagnoli))
}

// checkHeader verifies a header read from the pipe against the request that
// came with it.
func checkHeader(b []byte, req request) error {
	if len(b) != headerSize {
		return fmt.Errorf("%w: header of %d bytes", ErrProtocol, len(b))
	}
	if string(b[0:8]) != string(headerMagic[:]) {
		return fmt.Errorf("%w: bad header magic %q", ErrProtocol, b[0:8])
	}
	if got, want := binary.LittleEndian.Uint32(b[60:]), crc32.Checksum(b[:60], castagnoli); got != want {
		return fmt.Errorf("%w: header checksum %08x, want %08x", ErrProtocol, got, want)
	}
	for _, c := range b[36:60] {
		if c != 0 {
			return fmt.Errorf("%w: reserved header bytes are not zero", ErrProtocol)
		}
	}
	id := binary.LittleEndian.Uint64(b[8:])
	seq := binary.LittleEndian.Uint64(b[16:])
	size := int64(binary.LittleEndian.Uint64(b[24:]))
	layout := binary.LittleEndian.Uint32(b[32:])
	if id != req.ID || seq != req.Seq || size != req.ArenaSize || layout != req.LayoutVersion {
		return fmt.Errorf("%w: header (id %d seq %d size %d layout %d) does not match request (id %d seq %d size %d layout %d)",
			ErrProtocol, id, seq, size, layout, req.ID, req.Seq, req.ArenaSize, req.LayoutVersion)
	}
	return nil
}

// sendMsg sends v as one datagram, with fd attached when fd >= 0.
func sendMsg(sock int, v any, fd int) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	for {
		err = unix.Sendmsg(sock, b, oob, nil, unix.MSG_NOSIGNAL) // EPIPE, not SIGPIPE, when the peer is gone
		if err != unix.EINTR {
			return err
		}
	}
}

// recvMsg receives one datagram into v and returns the descriptor attached
// to it, or -1. It returns io.EOF when the peer has closed its end.
func recvMsg(sock int, v any) (int, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return -1, err
	}
	fds, err := parseRights(oob[:oobn])
	if err != nil {
		return -1, err
	}
	if n == 0 && len(fds) == 0 {
		return -1, io.EOF
	}
	fd := -1
	for i, f := range fds {
		if i == 0 {
			fd = f
		} else {
			unix.Close(f) // more than we asked for: never leak it
		}
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		if fd >= 0 {
			unix.Close(fd)
		}
		return -1, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return fd, nil
}

func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			continue
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

// errnoOf returns the syscall errno behind err, or 0.
func errnoOf(err error) int {
	var e syscall.Errno
	if errors.As(err, &e) {
		return int(e)
	}
	return 0
}

// remoteError is a helper-side failure seen from the node: the message as
// the helper wrote it, and its errno so that errors.Is(err, syscall.ENOSPC)
// works across the process boundary.
type remoteError struct {
	msg   string
	errno syscall.Errno
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Is(target error) bool {
	if target == ErrSink {
		return true
	}
	t, ok := target.(syscall.Errno)
	return ok && e.errno != 0 && t == e.errno
}
