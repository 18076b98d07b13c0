package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Protocol constants. Changing any of them is a protocol version change.
const (
	// Version is the protocol version this package speaks.
	Version uint16 = 1
	// Magic opens Hello and ServerHello ("COWB" in little-endian order), so
	// that a stray client speaking another protocol is told off at once.
	Magic uint32 = 'C' | 'O'<<8 | 'W'<<16 | 'B'<<24
	// HeaderSize is the size of the frame header.
	HeaderSize = 8
	// MaxTextLen bounds the text of a Reject or an Error frame.
	MaxTextLen = 256
	// MaxBodySize is the largest body any message can have; a limit given
	// to the decoder above it is lowered to it.
	MaxBodySize = rejectFixedSize + MaxTextLen
	// MaxFrameSize is the largest frame any message can produce.
	MaxFrameSize = HeaderSize + MaxBodySize
	// MaxClientBodySize is the largest body a client sends (NewOrder): a
	// server needs no larger limit.
	MaxClientBodySize = newOrderSize
)

// Errors returned by the decoder. Every decoding error wraps exactly one of
// them; IsProtocolError tells them apart from I/O errors.
var (
	// ErrFrameTooLarge is returned when a header announces a body larger
	// than the limit the caller gave (or than MaxBodySize).
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrUnknownType is returned when a header names no defined message type.
	ErrUnknownType = errors.New("wire: unknown message type")
	// ErrMalformed is returned when a frame's length does not match its
	// type, a reserved byte or padding is not zero, an enum holds an
	// undefined value, a symbol is not canonical, or a text length
	// disagrees with the frame length.
	ErrMalformed = errors.New("wire: malformed frame")
	// ErrTruncated is returned when the input ends inside a frame.
	ErrTruncated = errors.New("wire: truncated frame")
	// ErrVersion is returned by the handshake helpers when the peer speaks
	// a protocol version this package does not.
	ErrVersion = errors.New("wire: unsupported protocol version")
)

// IsProtocolError reports whether err means that the peer sent bytes that
// break the protocol (as opposed to an I/O error or a clean end of stream).
func IsProtocolError(err error) bool {
	return errors.Is(err, ErrFrameTooLarge) || errors.Is(err, ErrUnknownType) ||
		errors.Is(err, ErrMalformed) || errors.Is(err, ErrTruncated) || errors.Is(err, ErrVersion)
}

// Type identifies a message. Client-to-server types are below 0x80,
// server-to-client types have the high bit set.
type Type uint8

// Message types.
const (
	TypeHello       Type = 0x01
	TypeNewOrder    Type = 0x02
	TypeCancel      Type = 0x03
	TypeReplace     Type = 0x04
	TypeStatusQuery Type = 0x05
	TypeHeartbeat   Type = 0x06

	TypeServerHello  Type = 0x81
	TypeAck          Type = 0x82
	TypeReject       Type = 0x83
	TypeTrade        Type = 0x84
	TypeCancelled    Type = 0x85
	TypeReplaced     Type = 0x86
	TypeStatus       Type = 0x87
	TypeHeartbeatAck Type = 0x88
	TypeError        Type = 0x8F
)

// FromClient reports whether t is a message a client may send.
func (t Type) FromClient() bool { return t < 0x80 }

// String names the type.
func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeNewOrder:
		return "new_order"
	case TypeCancel:
		return "cancel"
	case TypeReplace:
		return "replace"
	case TypeStatusQuery:
		return "status_query"
	case TypeHeartbeat:
		return "heartbeat"
	case TypeServerHello:
		return "server_hello"
	case TypeAck:
		return "ack"
	case TypeReject:
		return "reject"
	case TypeTrade:
		return "trade"
	case TypeCancelled:
		return "cancelled"
	case TypeReplaced:
		return "replaced"
	case TypeStatus:
		return "status"
	case TypeHeartbeatAck:
		return "heartbeat_ack"
	case TypeError:
		return "error"
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Body sizes, fixed per type (Reject and Error: fixed part before the text).
const (
	helloSize        = 16
	serverHelloSize  = 32
	newOrderSize     = 56
	cancelSize       = 24
	replaceSize      = 40
	tokenSize        = 8
	ackSize          = 16
	rejectFixedSize  = 24
	tradeSize        = 56
	cancelledSize    = 40
	replacedSize     = 40
	statusSize       = 88
	errorFixedSize   = 8
	variableBodySize = -1
)

// bodySize returns the fixed body size of t, variableBodySize for types with
// text, or 0 if t is not a defined type.
func bodySize(t Type) int {
	switch t {
	case TypeHello:
		return helloSize
	case TypeNewOrder:
		return newOrderSize
	case TypeCancel:
		return cancelSize
	case TypeReplace:
		return replaceSize
	case TypeStatusQuery, TypeHeartbeat, TypeHeartbeatAck:
		return tokenSize
	case TypeServerHello:
		return serverHelloSize
	case TypeAck:
		return ackSize
	case TypeTrade:
		return tradeSize
	case TypeCancelled:
		return cancelledSize
	case TypeReplaced:
		return replacedSize
	case TypeStatus:
		return statusSize
	case TypeReject, TypeError:
		return variableBodySize
	}
	return 0
}

// Header is a decoded frame header.
type Header struct {
	Type Type
	Len  int // body length
}

// ParseHeader validates the HeaderSize bytes at the front of b against the
// body limit maxBody (lowered to MaxBodySize; 0 means MaxBodySize). It checks
// the length before the type, so that an oversized frame of any type is
// reported as ErrFrameTooLarge.
func ParseHeader(b []byte, maxBody int) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("%w: %d header bytes", ErrTruncated, len(b))
	}
	if maxBody <= 0 || maxBody > MaxBodySize {
		maxBody = MaxBodySize
	}
	n := binary.LittleEndian.Uint32(b[0:4])
	t := Type(b[4])
	if uint64(n) > uint64(maxBody) {
		return Header{}, fmt.Errorf("%w: %s body of %d bytes, limit %d", ErrFrameTooLarge, t, n, maxBody)
	}
	size := bodySize(t)
	if size == 0 {
		return Header{}, fmt.Errorf("%w: 0x%02x", ErrUnknownType, uint8(t))
	}
	if b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return Header{}, fmt.Errorf("%w: %s header flags/reserved not zero", ErrMalformed, t)
	}
	switch {
	case size == variableBodySize:
		fixed := rejectFixedSize
		if t == TypeError {
			fixed = errorFixedSize
		}
		if int(n) < fixed || int(n) > fixed+MaxTextLen {
			return Header{}, fmt.Errorf("%w: %s body of %d bytes", ErrMalformed, t, n)
		}
	case int(n) != size:
		return Header{}, fmt.Errorf("%w: %s body of %d bytes, want %d", ErrMalformed, t, n, size)
	}
	return Header{Type: t, Len: int(n)}, nil
}

func putHeader(dst []byte, t Type, n int) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, uint32(n))
	return append(dst, byte(t), 0, 0, 0)
}

// DecodeFrame decodes the frame at the front of b into f and returns its
// total size. It returns ErrTruncated when b holds less than one whole frame
// (more bytes may complete it). Text fields of f alias b.
func DecodeFrame(b []byte, maxBody int, f *Frame) (int, error) {
	h, err := ParseHeader(b, maxBody)
	if err != nil {
		return 0, err
	}
	end := HeaderSize + h.Len
	if len(b) < end {
		return 0, fmt.Errorf("%w: %s needs %d bytes, have %d", ErrTruncated, h.Type, end, len(b))
	}
	if err := f.decodeBody(h.Type, b[HeaderSize:end]); err != nil {
		return 0, err
	}
	return end, nil
}

// Reader reads frames from a buffered stream without copying them: it
// peeks at the header, checks it, peeks at the body and decodes it in place,
// so reading allocates nothing. Text fields of the decoded Frame alias the
// stream's buffer and are valid only until the next call.
type Reader struct {
	r       *bufio.Reader
	maxBody int
}

// NewReader returns a Reader of r that accepts bodies up to maxBody bytes
// (lowered to MaxBodySize; 0 means MaxBodySize). r is wrapped in a
// bufio.Reader unless it is one of at least MaxFrameSize bytes.
func NewReader(r io.Reader, maxBody int) *Reader {
	if maxBody <= 0 || maxBody > MaxBodySize {
		maxBody = MaxBodySize
	}
	br, ok := r.(*bufio.Reader)
	if !ok || br.Size() < MaxFrameSize {
		br = bufio.NewReaderSize(r, 4096)
	}
	return &Reader{r: br, maxBody: maxBody}
}

// Read reads and decodes the next frame into f. It returns io.EOF at a clean
// end of stream (between frames), ErrTruncated (wrapped) if the stream ends
// inside a frame, a protocol error if the bytes are invalid (the body of an
// invalid header is never read), or the underlying read error.
func (r *Reader) Read(f *Frame) error {
	hb, err := r.r.Peek(HeaderSize)
	if err != nil {
		if errors.Is(err, io.EOF) && len(hb) > 0 {
			return fmt.Errorf("%w: %d header bytes", ErrTruncated, len(hb))
		}
		return err
	}
	h, err := ParseHeader(hb, r.maxBody)
	if err != nil {
		return err
	}
	b, err := r.r.Peek(HeaderSize + h.Len)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s body %d of %d bytes", ErrTruncated, h.Type, len(b)-HeaderSize, h.Len)
		}
		return err
	}
	if err := f.decodeBody(h.Type, b[HeaderSize:]); err != nil {
		return err
	}
	_, _ = r.r.Discard(HeaderSize + h.Len)
	return nil
}
