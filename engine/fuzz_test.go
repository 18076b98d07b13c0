package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

// FuzzDecodeCommand: any bytes either decode to a command that encodes back
// to the same bytes (the encoding is canonical), or fail with ErrMalformed.
func FuzzDecodeCommand(f *testing.F) {
	for i := range sampleCommands {
		f.Add(sampleCommands[i].AppendBinary(nil))
	}
	f.Add([]byte{})
	f.Add(make([]byte, CommandSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommand(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		if got := c.AppendBinary(nil); !bytes.Equal(got, b) {
			t.Fatalf("decode/encode not canonical:\n in %x\nout %x", b, got)
		}
	})
}

// FuzzParseCommandFile: the parser never panics, fails only with ErrSyntax
// naming a line, and every command it returns survives a text round trip.
func FuzzParseCommandFile(f *testing.F) {
	f.Add([]byte("S,X,5,100,500\nN,X,1,7,B,L,GTC,200,10\nC,X,1\nR,X,1,205,3\n"))
	f.Add([]byte("# c\r\n\nN,X,1,7,S,M,IOC,0,10"))
	f.Add([]byte("N,X,1,7,B,L,GTC,200\n"))
	f.Add([]byte("C,ABCDEFGH,18446744073709551615\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for {
			c, err := r.Next()
			if err != nil {
				if errors.Is(err, io.EOF) {
					return
				}
				if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "line ") {
					t.Fatalf("error %v", err)
				}
				return
			}
			line := AppendText(nil, &c)
			back, err := ParseCommand(line[:len(line)-1])
			if err != nil || back != c {
				t.Fatalf("round trip of %+v via %q: %+v %v", c, line, back, err)
			}
			bin := c.AppendBinary(nil)
			if dc, err := DecodeCommand(bin); err != nil || dc != c {
				t.Fatalf("parsed command %+v does not survive the binary codec: %v", c, err)
			}
		}
	})
}

// fuzzCommands turns bytes into commands, 8 bytes each, aimed at a small
// book so that the fuzzer reaches trades, fills and capacity limits.
func fuzzCommands(b []byte) []Command {
	syms := []Symbol{MustSymbol("X"), MustSymbol("Y"), MustSymbol("Z")}
	var out []Command
	for ; len(b) >= 8; b = b[8:] {
		w := binary.LittleEndian.Uint64(b)
		c := Command{Symbol: syms[int(w>>8&3)%3], ID: OrderID(w >> 10 & 15)}
		price := Price(int64(w>>14&63) - 4) // some below band, some off tick
		qty := Qty(int64(w>>20&31) - 2)
		if w>>25&31 == 31 {
			qty = MaxQty + Qty(w>>30&1)
		}
		switch w & 7 {
		case 0:
			c.Kind, c.Tick, c.BandMin, c.BandMax = CmdDefineSymbol, Price(w>>14&3), Price(w>>16&7), Price(w>>19&63)
		case 1, 2, 3:
			c.Kind, c.Side, c.Type, c.TIF = CmdNew, Side(1+w>>31&1), Limit, TIF(1+w>>32&3)
			c.Price, c.Qty, c.Account = price, qty, Account(w>>40&3)
			if w>>34&7 == 0 {
				c.Type, c.Price = Market, 0
			}
			if w>>37&63 == 0 {
				c.Side = Side(w >> 43 & 7)
			}
		case 4, 5:
			c.Kind = CmdCancel
		case 6:
			c.Kind, c.Price, c.Qty = CmdReplace, price, qty
		default:
			c.Kind = CommandKind(w >> 3 & 0x7f)
		}
		out = append(out, c)
	}
	return out
}

// FuzzApply: random command sequences never make Apply panic or fail, the
// engine agrees with the reference book event for event, and every
// invariant holds after every command.
func FuzzApply(f *testing.F) {
	f.Add(bytes.Repeat([]byte{1, 2, 3, 4, 5, 6, 7, 8}, 8))
	f.Add([]byte{0x41, 0x10, 0x21, 0, 0, 0, 0, 0, 0x42, 0x10, 0xa1, 0, 0x80, 0, 0, 0, 0x04, 0, 0, 0, 0, 0, 0, 0})
	f.Add(bytes.Repeat([]byte{0xff, 0x3f, 0x11, 0x09, 0x80, 0x00, 0x00, 0x01, 0x01, 0x41, 0x13, 0x07, 0, 0, 0, 0}, 12))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Config{MaxOrders: 6, MaxSymbols: 2, MaxLevels: 40, LevelCapacity: 60,
			Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 2, BandMin: 2, BandMax: 40}}}
		e, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		ref, slots := newRef(cfg), newSlotTracker()
		for i, c := range fuzzCommands(b) {
			got, err := e.Apply(uint64(i+1), &c, nil)
			if err != nil {
				t.Fatalf("op %d %+v: %v", i, c, err)
			}
			checkStep(t, e, ref, slots, i, &c, got)
		}
	})
}
