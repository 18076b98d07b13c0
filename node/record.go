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
	err = decodeRecordInto(typ, p, &c, &clientID, &reqID)
	return c, clientID, reqID, err
}

// decodeRecordInto is decodeRecord into *c, *clientID and *reqID, for
// replay, which decodes every record in place (see
// engine.DecodeCommandInto).
func decodeRecordInto(typ uint8, p []byte, c *engine.Command, clientID, reqID *uint64) error {
	if typ != RecordCommand {
		return fmt.Errorf("%w: type %d", ErrRecord, typ)
	}
	if len(p) != RecordSize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrRecord, len(p), RecordSize)
	}
	if err := engine.DecodeCommandInto(p[:engine.CommandSize], c); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	*clientID, *reqID = binary.LittleEndian.Uint64(p[48:]), binary.LittleEndian.Uint64(p[56:])
	return nil
}
