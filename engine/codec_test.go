package engine

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
)

var sampleCommands = []Command{
	{Kind: CmdDefineSymbol, Symbol: MustSymbol("AAPL"), Tick: 1, BandMin: 1, BandMax: 1_000_000},
	{Kind: CmdNew, Symbol: MustSymbol("AAPL"), ID: 1<<64 - 1, Account: 1<<32 - 1, Side: Buy, Type: Limit, TIF: GTC, Price: 100, Qty: 10},
	{Kind: CmdNew, Symbol: MustSymbol("a.b-c_9"), ID: 7, Side: Sell, Type: Market, TIF: FOK, Price: 0, Qty: -3},
	{Kind: CmdNew, Symbol: MustSymbol("X"), ID: 0, Side: Sell, Type: Limit, TIF: POST, Price: -5, Qty: 1 << 62},
	{Kind: CmdNew, Symbol: MustSymbol("X"), ID: 2, Side: Buy, Type: Limit, TIF: IOC, Price: 5, Qty: 1},
	{Kind: CmdCancel, Symbol: MustSymbol("ABCDEFGH"), ID: 42},
	{Kind: CmdReplace, Symbol: MustSymbol("X"), ID: 42, Price: 105, Qty: 0},
}

func TestCodecRoundTrip(t *testing.T) {
	for _, c := range sampleCommands {
		b := c.AppendBinary(nil)
		if len(b) != CommandSize || b[0] != CommandVersion {
			t.Fatalf("%+v: %d bytes, version %d", c, len(b), b[0])
		}
		got, err := DecodeCommand(b)
		if err != nil || got != c {
			t.Fatalf("%+v: decoded %+v, %v", c, got, err)
		}
		// Appends, does not overwrite.
		if b2 := c.AppendBinary([]byte{9}); b2[0] != 9 || !bytes.Equal(b2[1:], b) {
			t.Fatal("AppendBinary did not append")
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [CommandSize]byte
		_ = sampleCommands[1].AppendBinary(buf[:0])
		_, _ = DecodeCommand(buf[:])
	}); n != 0 {
		t.Errorf("codec allocates %.0f per round trip", n)
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := sampleCommands[1].AppendBinary(nil)
	mod := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	cases := map[string][]byte{
		"empty":            nil,
		"short":            good[:CommandSize-1],
		"long":             append(bytes.Clone(good), 0),
		"version":          mod(func(b []byte) { b[0] = 2 }),
		"padding":          mod(func(b []byte) { b[6] = 1 }),
		"kind":             mod(func(b []byte) { b[1] = 'Q' }),
		"side":             mod(func(b []byte) { b[2] = 3 }),
		"type":             mod(func(b []byte) { b[3] = 0 }),
		"tif":              mod(func(b []byte) { b[4] = 5 }),
		"account too big":  mod(func(b []byte) { binary.LittleEndian.PutUint64(b[24:], 1<<32) }),
		"S with qty":       mod(func(b []byte) { b[1], b[2], b[3], b[4] = 'S', 0, 0, 0 }),
		"C with price":     mod(func(b []byte) { b[1], b[2], b[3], b[4] = 'C', 0, 0, 0; clear(b[24:32]) }),
		"R with account":   mod(func(b []byte) { b[1], b[2], b[3], b[4] = 'R', 0, 0, 0 }),
		"R with enums set": mod(func(b []byte) { b[1] = 'R'; clear(b[24:32]) }),
	}
	for name, b := range cases {
		if _, err := DecodeCommand(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
		// Into a command that holds another: left zero, nothing stale.
		c := sampleCommands[1]
		if err := DecodeCommandInto(b, &c); !errors.Is(err, ErrMalformed) || c != (Command{}) {
			t.Errorf("%s: DecodeCommandInto: %v, left %+v", name, err, c)
		}
	}
}

// TestDecodeCommandIntoReused decodes every sample into one Command, each
// after every other: replay decodes into entries it reuses, so no field of
// the command decoded before may survive.
func TestDecodeCommandIntoReused(t *testing.T) {
	for _, prev := range sampleCommands {
		for _, want := range sampleCommands {
			c := prev
			if err := DecodeCommandInto(want.AppendBinary(nil), &c); err != nil || c != want {
				t.Fatalf("after %+v: decoded %+v, %v; want %+v", prev, c, err, want)
			}
		}
	}
}

func TestCommandFileRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.Comment("sample\nfile"); err != nil {
		t.Fatal(err)
	}
	for i := range sampleCommands {
		if err := w.Write(&sampleCommands[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAll(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(sampleCommands) {
		t.Fatalf("%d commands back, want %d", len(got), len(sampleCommands))
	}
	for i := range got {
		if got[i] != sampleCommands[i] {
			t.Errorf("line %d: %+v, want %+v", i+2, got[i], sampleCommands[i])
		}
	}
}

func TestCommandFileParse(t *testing.T) {
	in := "# comment\n\nS,X,5,100,500\r\nN,X,1,7,B,L,GTC,200,10\n   \nC,X,1\nR,X,1,205,3" // no final newline
	r := NewReader(strings.NewReader(strings.Replace(in, "   \n", "#x\n", 1)))
	var kinds []CommandKind
	for {
		c, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, c.Kind)
	}
	if string(kinds) != "SNCR" || r.Line() != 7 {
		t.Fatalf("kinds %q, line %d", kinds, r.Line())
	}

	bad := []struct{ text, want string }{
		{"S,X,5,100,500\nN,X,1\n", "line 2: N command has 3 fields, want 9"},
		{"Q,X,1\n", "line 1: unknown command"},
		{"NN,X,1\n", "line 1: unknown command"},
		{"C,toolongname,1\n", "line 1: engine: bad symbol name"},
		{"C,,1\n", "bad symbol"},
		{"C,X,-1\n", "order_id \"-1\" is not a decimal"},
		{"C,X,18446744073709551616\n", "out of range"},
		{"C,X, 1\n", "not a decimal"},
		{"C,X,1,\n", "C command has 4 fields"},
		{"N,X,1,4294967296,B,L,GTC,1,1\n", "account \"4294967296\" out of range"},
		{"N,X,1,1,b,L,GTC,1,1\n", "side \"b\""},
		{"N,X,1,1,B,LIMIT,GTC,1,1\n", "type \"LIMIT\""},
		{"N,X,1,1,B,L,GTD,1,1\n", "tif \"GTD\""},
		{"N,X,1,1,B,L,GTC,1.5,1\n", "price \"1.5\""},
		{"N,X,1,1,B,L,GTC,1,9223372036854775808\n", "qty \"9223372036854775808\" out of range"},
		{"N,X,1,1,B,L,GTC,1,-\n", "qty \"-\""},
		{"R,X,1,2\n", "R command has 4 fields"},
		{"S,X,1,2,3,4,5,6,7,8,9,10\n", "too many fields"},
		{"#ok\n" + strings.Repeat("C", MaxLineLen+10) + "\n", "line 2: longer than"},
	}
	for _, tc := range bad {
		_, err := ReadAll(strings.NewReader(tc.text))
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want ErrSyntax with %q", tc.text, err, tc.want)
		}
	}
}

func TestParseSymbol(t *testing.T) {
	for _, s := range []string{"A", "ABCDEFGH", "a.b-c_9"} {
		sym, err := ParseSymbol(s)
		if err != nil || sym.String() != s || !sym.Valid() {
			t.Errorf("%q: %v %v", s, sym, err)
		}
	}
	for _, s := range []string{"", "ABCDEFGHI", "A B", "A,B", "é"} {
		if _, err := ParseSymbol(s); !errors.Is(err, ErrBadSymbol) {
			t.Errorf("%q accepted", s)
		}
	}
	for _, v := range []Symbol{0, 0x0041_0041, 0xff} {
		if v.Valid() {
			t.Errorf("%#x valid", uint64(v))
		}
	}
}
