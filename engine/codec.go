package engine

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Binary command encoding, the payload of write-ahead-log records and of the
// wire protocol. Every command is exactly CommandSize bytes, little-endian:
//
//	off size field
//	  0    1 version (CommandVersion)
//	  1    1 kind: 'S', 'N', 'C' or 'R'
//	  2    1 side: 1 buy, 2 sell (N only)
//	  3    1 type: 1 limit, 2 market (N only)
//	  4    1 tif: 1 GTC, 2 IOC, 3 FOK, 4 POST (N only)
//	  5    3 zero
//	  8    8 symbol (packed name, see Symbol)
//	 16    8 a: order id (N, C, R) | tick (S)
//	 24    8 b: account (N, < 2^32) | band_min (S)
//	 32    8 c: price (N, R) | band_max (S)
//	 40    8 d: qty (N, R)
//
// Fields a kind does not use must be zero. The encoding is canonical:
// DecodeCommand accepts exactly the byte strings AppendBinary produces, so a
// record's bytes identify its command. DecodeCommand checks structure only
// (version, kind, enumerations, zero fields); values such as a negative
// quantity decode fine and are rejected by the engine with a reason.

// CommandSize is the size of an encoded command.
const CommandSize = 48

// CommandVersion is the version byte of the encoding. It changes whenever
// the layout does; decoders reject versions they do not know.
const CommandVersion = 1

// ErrMalformed is returned by DecodeCommand when the bytes are not an
// encoded command: wrong length, unknown version or kind, an enumeration
// out of range, or a non-zero unused field.
var ErrMalformed = errors.New("engine: malformed command")

// AppendBinary appends the encoding of c to dst. Commands that DecodeCommand
// would refuse (unknown kind, stray fields) are encoded as they are; it is
// the decoder that guards the boundary.
func (c *Command) AppendBinary(dst []byte) []byte {
	var b [CommandSize]byte
	b[0] = CommandVersion
	b[1] = byte(c.Kind)
	b[2] = byte(c.Side)
	b[3] = byte(c.Type)
	b[4] = byte(c.TIF)
	binary.LittleEndian.PutUint64(b[8:], uint64(c.Symbol))
	if c.Kind == CmdDefineSymbol {
		binary.LittleEndian.PutUint64(b[16:], uint64(c.Tick))
		binary.LittleEndian.PutUint64(b[24:], uint64(c.BandMin))
		binary.LittleEndian.PutUint64(b[32:], uint64(c.BandMax))
	} else {
		binary.LittleEndian.PutUint64(b[16:], uint64(c.ID))
		binary.LittleEndian.PutUint64(b[24:], uint64(c.Account))
		binary.LittleEndian.PutUint64(b[32:], uint64(c.Price))
		binary.LittleEndian.PutUint64(b[40:], uint64(c.Qty))
	}
	return append(dst, b[:]...)
}

// DecodeCommand decodes one command of exactly CommandSize bytes.
func DecodeCommand(b []byte) (Command, error) {
	var c Command
	err := DecodeCommandInto(b, &c)
	return c, err
}

// DecodeCommandInto is DecodeCommand into *c, which it sets to the zero
// Command on error. A loop that decodes many commands into place (replay)
// avoids copying each one: a struct copied right after its fields were
// stored one by one is read back with wider loads, each a store-forwarding
// stall.
func DecodeCommandInto(b []byte, c *Command) error {
	if len(b) != CommandSize {
		return c.fail(fmt.Errorf("%w: %d bytes, want %d", ErrMalformed, len(b), CommandSize))
	}
	if b[0] != CommandVersion {
		return c.fail(fmt.Errorf("%w: version %d", ErrMalformed, b[0]))
	}
	if b[5]|b[6]|b[7] != 0 {
		return c.fail(fmt.Errorf("%w: padding not zero", ErrMalformed))
	}
	*c = Command{
		Kind:   CommandKind(b[1]),
		Side:   Side(b[2]),
		Type:   OrderType(b[3]),
		TIF:    TIF(b[4]),
		Symbol: Symbol(binary.LittleEndian.Uint64(b[8:])),
	}
	a := binary.LittleEndian.Uint64(b[16:])
	bb := binary.LittleEndian.Uint64(b[24:])
	cc := binary.LittleEndian.Uint64(b[32:])
	d := binary.LittleEndian.Uint64(b[40:])
	enums := b[2]|b[3]|b[4] != 0
	switch c.Kind {
	case CmdDefineSymbol:
		if enums || d != 0 {
			return c.fail(fmt.Errorf("%w: S with order fields", ErrMalformed))
		}
		c.Tick, c.BandMin, c.BandMax = Price(a), Price(bb), Price(cc)
	case CmdNew:
		if c.Side != Buy && c.Side != Sell {
			return c.fail(fmt.Errorf("%w: side %d", ErrMalformed, b[2]))
		}
		if c.Type != Limit && c.Type != Market {
			return c.fail(fmt.Errorf("%w: type %d", ErrMalformed, b[3]))
		}
		if c.TIF < GTC || c.TIF > POST {
			return c.fail(fmt.Errorf("%w: tif %d", ErrMalformed, b[4]))
		}
		if bb > 0xFFFFFFFF {
			return c.fail(fmt.Errorf("%w: account %d", ErrMalformed, bb))
		}
		c.ID, c.Account, c.Price, c.Qty = OrderID(a), Account(bb), Price(cc), Qty(d)
	case CmdCancel:
		if enums || bb|cc|d != 0 {
			return c.fail(fmt.Errorf("%w: C with extra fields", ErrMalformed))
		}
		c.ID = OrderID(a)
	case CmdReplace:
		if enums || bb != 0 {
			return c.fail(fmt.Errorf("%w: R with extra fields", ErrMalformed))
		}
		c.ID, c.Price, c.Qty = OrderID(a), Price(cc), Qty(d)
	default:
		return c.fail(fmt.Errorf("%w: kind %d", ErrMalformed, b[1]))
	}
	return nil
}

// fail zeroes c and returns err.
func (c *Command) fail(err error) error {
	*c = Command{}
	return err
}
