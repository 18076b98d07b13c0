package node

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cowbook/cowbook/engine"
)

// RecordCommand is the walfile record type of a sequenced command.
const RecordCommand uint8 = 'C'

// RecordSize is the payload size of a RecordCommand record.
const RecordSize = engine.CommandSize + 16

// ErrRecord is returned (wrapped with the sequence) when a log record is not
// a command record this version reads. The log's checksums make it a bug or
// a log from another program, never a torn write.
var ErrRecord = errors.New("node: bad log record")

// appendRecord appends the payload of a command record to dst.
func appendRecord(dst []byte, c *engine.Command, clientID, reqID uint64) []byte {
	dst = c.AppendBinary(dst)
	dst = binary.LittleEndian.AppendUint64(dst, clientID)
	return binary.LittleEndian.AppendUint64(dst, reqID)
}

// decodeRecord decodes the payload of a record of type typ.
func decodeRecord(typ uint8, p []byte) (c engine.Command, clientID, reqID uint64, err error) {
	if typ != RecordCommand {
		return c, 0, 0, fmt.Errorf("%w: type %d", ErrRecord, typ)
	}
	if len(p) != RecordSize {
		return c, 0, 0, fmt.Errorf("%w: %d bytes, want %d", ErrRecord, len(p), RecordSize)
	}
	c, err = engine.DecodeCommand(p[:engine.CommandSize])
	if err != nil {
		return c, 0, 0, fmt.Errorf("%w: %v", ErrRecord, err)
	}
	return c, binary.LittleEndian.Uint64(p[48:]), binary.LittleEndian.Uint64(p[56:]), nil
}
