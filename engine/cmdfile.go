package engine

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Command files: the text form of a command stream, one command per line,
// specified in docs/command-file.md:
//
//	S,<symbol>,<tick>,<band_min>,<band_max>
//	N,<symbol>,<order_id>,<account>,<side>,<type>,<tif>,<price>,<qty>
//	C,<symbol>,<order_id>
//	R,<symbol>,<order_id>,<new_price>,<new_qty>
//
// Blank lines and lines starting with '#' are ignored; a trailing "\r" is
// dropped. The parser checks syntax only (field count, integer syntax and
// range, enumerations, symbol names); whether a command makes sense for the
// book is the engine's to decide, with a rejection event.

// ErrSyntax is returned (wrapped, with the line number) by Reader.Next and
// ParseCommand for a line that is not a command.
var ErrSyntax = errors.New("engine: command file syntax error")

// MaxLineLen bounds a command-file line, so a corrupt file cannot make the
// reader buffer without limit.
const MaxLineLen = 4096

// Reader parses a command file as a stream.
type Reader struct {
	br   *bufio.Reader
	line int
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10)}
}

// Line returns the number of the last line read (1-based).
func (r *Reader) Line() int { return r.line }

// Next returns the next command, io.EOF after the last one, or an error
// wrapping ErrSyntax (or the underlying read error) that names the line.
func (r *Reader) Next() (Command, error) {
	for {
		b, err := r.br.ReadSlice('\n')
		if len(b) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Command{}, io.EOF
			}
			return Command{}, fmt.Errorf("engine: command file line %d: %w", r.line+1, err)
		}
		r.line++
		if errors.Is(err, bufio.ErrBufferFull) || len(b) > MaxLineLen {
			return Command{}, fmt.Errorf("%w: line %d: longer than %d bytes", ErrSyntax, r.line, MaxLineLen)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return Command{}, fmt.Errorf("engine: command file line %d: %w", r.line, err)
		}
		b = bytes.TrimRight(b, "\r\n")
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		c, perr := ParseCommand(b)
		if perr != nil {
			return Command{}, fmt.Errorf("%w: line %d: %v", ErrSyntax, r.line, perr)
		}
		return c, nil
	}
}

// ReadAll parses a whole command file.
func ReadAll(r io.Reader) ([]Command, error) {
	rd := NewReader(r)
	var out []Command
	for {
		c, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
}

// ParseCommand parses one non-comment line (without its newline). Errors
// describe the field at fault; Reader.Next adds the line number.
func ParseCommand(line []byte) (Command, error) {
	var f [10][]byte
	n := 0
	for start := 0; ; {
		i := bytes.IndexByte(line[start:], ',')
		if n == len(f) {
			return Command{}, errors.New("too many fields")
		}
		if i < 0 {
			f[n] = line[start:]
			n++
			break
		}
		f[n] = line[start : start+i]
		n++
		start += i + 1
	}
	w := 0
	if len(f[0]) == 1 {
		switch f[0][0] {
		case 'S', 'R':
			w = 5
		case 'N':
			w = 9
		case 'C':
			w = 3
		}
	}
	if w == 0 {
		return Command{}, fmt.Errorf("unknown command %q", f[0])
	}
	kind := string(f[0])
	if n != w {
		return Command{}, fmt.Errorf("%s command has %d fields, want %d", kind, n, w)
	}
	sym, err := ParseSymbol(string(f[1]))
	if err != nil {
		return Command{}, err
	}
	c := Command{Kind: CommandKind(kind[0]), Symbol: sym}
	switch c.Kind {
	case CmdDefineSymbol:
		var t, lo, hi int64
		if t, err = parseInt(f[2], "tick"); err == nil {
			if lo, err = parseInt(f[3], "band_min"); err == nil {
				hi, err = parseInt(f[4], "band_max")
			}
		}
		c.Tick, c.BandMin, c.BandMax = Price(t), Price(lo), Price(hi)
	case CmdNew:
		var id, acct uint64
		var p, q int64
		if id, err = parseUint(f[2], "order_id", 64); err != nil {
			return Command{}, err
		}
		if acct, err = parseUint(f[3], "account", 32); err != nil {
			return Command{}, err
		}
		switch string(f[4]) {
		case "B":
			c.Side = Buy
		case "S":
			c.Side = Sell
		default:
			return Command{}, fmt.Errorf("side %q, want B or S", f[4])
		}
		switch string(f[5]) {
		case "L":
			c.Type = Limit
		case "M":
			c.Type = Market
		default:
			return Command{}, fmt.Errorf("type %q, want L or M", f[5])
		}
		switch string(f[6]) {
		case "GTC":
			c.TIF = GTC
		case "IOC":
			c.TIF = IOC
		case "FOK":
			c.TIF = FOK
		case "POST":
			c.TIF = POST
		default:
			return Command{}, fmt.Errorf("tif %q, want GTC, IOC, FOK or POST", f[6])
		}
		if p, err = parseInt(f[7], "price"); err == nil {
			q, err = parseInt(f[8], "qty")
		}
		c.ID, c.Account, c.Price, c.Qty = OrderID(id), Account(acct), Price(p), Qty(q)
	case CmdCancel:
		var id uint64
		id, err = parseUint(f[2], "order_id", 64)
		c.ID = OrderID(id)
	case CmdReplace:
		var id uint64
		var p, q int64
		if id, err = parseUint(f[2], "order_id", 64); err == nil {
			if p, err = parseInt(f[3], "new_price"); err == nil {
				q, err = parseInt(f[4], "new_qty")
			}
		}
		c.ID, c.Price, c.Qty = OrderID(id), Price(p), Qty(q)
	}
	if err != nil {
		return Command{}, err
	}
	return c, nil
}

func decimal(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func parseUint(b []byte, name string, bitSize int) (uint64, error) {
	if !decimal(b) {
		return 0, fmt.Errorf("%s %q is not a decimal integer", name, b)
	}
	v, err := strconv.ParseUint(string(b), 10, bitSize)
	if err != nil {
		return 0, fmt.Errorf("%s %q out of range", name, b)
	}
	return v, nil
}

func parseInt(b []byte, name string) (int64, error) {
	digits := b
	if len(b) > 0 && b[0] == '-' {
		digits = b[1:]
	}
	if !decimal(digits) {
		return 0, fmt.Errorf("%s %q is not a decimal integer", name, b)
	}
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s %q out of range", name, b)
	}
	return v, nil
}

// AppendText appends c as one command-file line, with its newline.
// ParseCommand of the result (without the newline) gives c back for every
// command whose enumerations and symbol are valid.
func AppendText(dst []byte, c *Command) []byte {
	dst = append(dst, byte(c.Kind), ',')
	dst = append(dst, c.Symbol.String()...)
	switch c.Kind {
	case CmdDefineSymbol:
		dst = appendInts(dst, int64(c.Tick), int64(c.BandMin), int64(c.BandMax))
	case CmdNew:
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(c.ID), 10)
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(c.Account), 10)
		dst = append(dst, ',')
		dst = append(dst, c.Side.String()...)
		dst = append(dst, ',')
		dst = append(dst, c.Type.String()...)
		dst = append(dst, ',')
		dst = append(dst, c.TIF.String()...)
		dst = appendInts(dst, int64(c.Price), int64(c.Qty))
	case CmdCancel:
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(c.ID), 10)
	case CmdReplace:
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(c.ID), 10)
		dst = appendInts(dst, int64(c.Price), int64(c.Qty))
	}
	return append(dst, '\n')
}

func appendInts(dst []byte, v ...int64) []byte {
	for _, x := range v {
		dst = append(dst, ',')
		dst = strconv.AppendInt(dst, x, 10)
	}
	return dst
}

// Writer writes a command file.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
}

// NewWriter returns a Writer to w; call Flush when done.
func NewWriter(w io.Writer) *Writer {
	return &Writer{bw: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 128)}
}

// Write writes one command line.
func (w *Writer) Write(c *Command) error {
	w.buf = AppendText(w.buf[:0], c)
	_, err := w.bw.Write(w.buf)
	return err
}

// Comment writes a '#' comment line; newlines in text are replaced.
func (w *Writer) Comment(text string) error {
	w.buf = append(append(w.buf[:0], "# "...), text...)
	for i := range w.buf {
		if w.buf[i] == '\n' || w.buf[i] == '\r' {
			w.buf[i] = ' '
		}
	}
	w.buf = append(w.buf, '\n')
	_, err := w.bw.Write(w.buf)
	return err
}

// Flush writes buffered lines to the underlying writer.
func (w *Writer) Flush() error { return w.bw.Flush() }
