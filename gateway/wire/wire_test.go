package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

func sym(s string) Symbol {
	v, ok := MakeSymbol(s)
	if !ok {
		panic("bad test symbol " + s)
	}
	return v
}

// sampleFrames holds one frame of every type with every field set to a value
// that would expose a swapped or misplaced field.
func sampleFrames() []Frame {
	return []Frame{
		{Type: TypeHello, Hello: Hello{Version: Version, ClientID: 0x0102030405060708}},
		{Type: TypeServerHello, ServerHello: ServerHello{Version: 7, Status: HelloRecovering, ClientID: 9, LastReqID: 10, DurableSeq: 11}},
		{Type: TypeNewOrder, NewOrder: NewOrder{ReqID: 1, OrderID: 2, Account: 3, Price: -4, Qty: 5, Symbol: sym("BTC-USD"), Side: Sell, Type: Limit, TIF: POST}},
		{Type: TypeCancel, Cancel: Cancel{ReqID: 6, OrderID: 7, Symbol: sym("ETHUSDT")}},
		{Type: TypeReplace, Replace: Replace{ReqID: 8, OrderID: 9, Price: 10, Qty: 11, Symbol: sym("ABCDEFGH")}},
		{Type: TypeStatusQuery, Token: Token{Token: 12}},
		{Type: TypeHeartbeat, Token: Token{Token: 13}},
		{Type: TypeHeartbeatAck, Token: Token{Token: 14}},
		{Type: TypeAck, Ack: Ack{ReqID: 15, Seq: 16}},
		{Type: TypeReject, Reject: Reject{ReqID: 17, Seq: 18, Reason: ReasonWouldTrade, Text: []byte("post-only order would trade")}},
		{Type: TypeReject, Reject: Reject{ReqID: 19, Reason: ReasonNotReady, Text: []byte{}}},
		{Type: TypeTrade, Trade: Trade{Seq: 20, MakerOrderID: 21, TakerOrderID: 22, Price: 23, Qty: 24, Symbol: sym("X"), TakerSide: Buy}},
		{Type: TypeCancelled, Cancelled: Cancelled{Seq: 25, OrderID: 26, Qty: 27, Symbol: sym("Y"), Reason: CancelFOKUnfilled}},
		{Type: TypeReplaced, Replaced: Replaced{Seq: 28, OrderID: 29, Price: 30, Qty: 31, Symbol: sym("Z")}},
		{Type: TypeStatus, Status: Status{Token: 32, State: StateStopping, Seq: 33, DurableSeq: 34, SnapshotSeq: 35,
			SnapshotUnixNano: -36, ForkPauseNs: 37, RecoveryNs: 38, RecoverySnapLoadNs: 39, RecoveryReplayNs: 40, RecoveryValidateNs: 41}},
		{Type: TypeError, Error: Error{Code: ErrCodeMalformed, Text: bytes.Repeat([]byte("e"), MaxTextLen)}},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, want := range sampleFrames() {
		b, err := AppendFrame(nil, &want)
		if err != nil {
			t.Fatal(err)
		}
		var got Frame
		n, err := DecodeFrame(b, 0, &got)
		if err != nil {
			t.Fatalf("%s: %v", want.Type, err)
		}
		if n != len(b) {
			t.Fatalf("%s: consumed %d of %d", want.Type, n, len(b))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", want.Type, got, want)
		}
		// Every byte of the encoding matters: flipping any bit either
		// fails to decode or decodes to a different message.
		for i := range b {
			c := bytes.Clone(b)
			c[i] ^= 0x40
			var f Frame
			if _, err := DecodeFrame(c, 0, &f); err == nil && reflect.DeepEqual(f, want) {
				t.Fatalf("%s: byte %d ignored by the decoder", want.Type, i)
			}
		}
		seen[want.Type] = true
	}
	for t0 := 0; t0 < 256; t0++ {
		if bodySize(Type(t0)) != 0 && !seen[Type(t0)] {
			t.Errorf("type %s has no round-trip sample", Type(t0))
		}
	}
}

func TestTextIsClipped(t *testing.T) {
	long := bytes.Repeat([]byte("x"), MaxTextLen+10)
	b := AppendReject(nil, &Reject{ReqID: 1, Reason: ReasonUnavailable, Text: long})
	var f Frame
	if _, err := DecodeFrame(b, 0, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Reject.Text) != MaxTextLen {
		t.Fatalf("text %d bytes, want %d", len(f.Reject.Text), MaxTextLen)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := AppendNewOrder(nil, &NewOrder{ReqID: 1, OrderID: 2, Account: 3, Price: 4, Qty: 5, Symbol: sym("AB"), Side: Buy, Type: Limit, TIF: GTC})
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	hdr := func(n uint32, t Type) []byte {
		b := le.AppendUint32(nil, n)
		return append(b, byte(t), 0, 0, 0)
	}
	cases := []struct {
		name    string
		in      []byte
		maxBody int
		want    error
	}{
		{"empty", nil, 0, ErrTruncated},
		{"short header", good[:5], 0, ErrTruncated},
		{"short body", good[:len(good)-1], 0, ErrTruncated},
		{"over caller limit", good, newOrderSize - 1, ErrFrameTooLarge},
		{"huge length", hdr(0xFFFFFFFF, TypeNewOrder), 0, ErrFrameTooLarge},
		{"huge length unknown type", hdr(1<<30, 0x7F), 0, ErrFrameTooLarge},
		{"unknown type", hdr(8, 0x7F), 0, ErrUnknownType},
		{"type zero", hdr(0, 0), 0, ErrUnknownType},
		{"length off by one", mod(func(b []byte) []byte { b[0]--; return b[:len(b)-1] }), 0, ErrMalformed},
		{"flags", mod(func(b []byte) []byte { b[5] = 1; return b }), 0, ErrMalformed},
		{"reserved", mod(func(b []byte) []byte { b[7] = 1; return b }), 0, ErrMalformed},
		{"side", mod(func(b []byte) []byte { b[HeaderSize+48] = 3; return b }), 0, ErrMalformed},
		{"type", mod(func(b []byte) []byte { b[HeaderSize+49] = 0; return b }), 0, ErrMalformed},
		{"tif", mod(func(b []byte) []byte { b[HeaderSize+50] = 5; return b }), 0, ErrMalformed},
		{"padding", mod(func(b []byte) []byte { b[HeaderSize+55] = 1; return b }), 0, ErrMalformed},
		{"empty symbol", mod(func(b []byte) []byte { copy(b[HeaderSize+40:], make([]byte, 8)); return b }), 0, ErrMalformed},
		{"symbol gap", mod(func(b []byte) []byte { b[HeaderSize+43] = 'C'; return b }), 0, ErrMalformed},
		{"symbol space", mod(func(b []byte) []byte { b[HeaderSize+40] = ' '; return b }), 0, ErrMalformed},
		{"hello magic", func() []byte { b := AppendHello(nil, Hello{Version: 1, ClientID: 1}); b[HeaderSize] = 'X'; return b }(), 0, ErrMalformed},
		{"reject text length", func() []byte {
			b := AppendReject(nil, &Reject{ReqID: 1, Text: []byte("abc")})
			b[HeaderSize+18] = 2
			return b
		}(), 0, ErrMalformed},
		{"reject over max text", hdr(rejectFixedSize+MaxTextLen+1, TypeReject), 0, ErrFrameTooLarge},
		{"reject under fixed", hdr(rejectFixedSize-1, TypeReject), 0, ErrMalformed},
		{"error text over fixed limit", append(hdr(errorFixedSize+MaxTextLen+1, TypeError), make([]byte, errorFixedSize+MaxTextLen+1)...), 0, ErrMalformed},
	}
	for _, c := range cases {
		var f Frame
		n, err := DecodeFrame(c.in, c.maxBody, &f)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if err != nil && n != 0 {
			t.Errorf("%s: consumed %d on error", c.name, n)
		}
		if err != nil && !IsProtocolError(err) {
			t.Errorf("%s: %v is not a protocol error", c.name, err)
		}
	}
}

func TestReaderStream(t *testing.T) {
	var stream []byte
	frames := sampleFrames()
	for i := range frames {
		var err error
		if stream, err = AppendFrame(stream, &frames[i]); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bufio.NewReader(bytes.NewReader(stream)), 0)
	var f Frame
	for i := range frames {
		if err := r.Read(&f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Type != frames[i].Type {
			t.Fatalf("frame %d: type %s, want %s", i, f.Type, frames[i].Type)
		}
	}
	if err := r.Read(&f); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}
	// A stream cut inside a frame, at every possible point.
	one := AppendTrade(nil, &frames[11].Trade)
	for cut := 1; cut < len(one); cut++ {
		r := NewReader(bytes.NewReader(one[:cut]), 0)
		if err := r.Read(&f); !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d: %v, want ErrTruncated", cut, err)
		}
	}
}

// countingReader counts the bytes read.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReaderStopsAtBadHeader: an announced length is never trusted: what
// is read is bounded by the reader's buffer, not by the header.
func TestReaderStopsAtBadHeader(t *testing.T) {
	b := le.AppendUint32(nil, 1<<20)
	b = append(b, byte(TypeNewOrder), 0, 0, 0)
	b = append(b, make([]byte, 1<<20)...)
	cr := &countingReader{r: bytes.NewReader(b)}
	r := NewReader(cr, 64)
	var f Frame
	if err := r.Read(&f); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("err %v", err)
	}
	if cr.n > 4096 {
		t.Fatalf("read %d bytes for a frame refused at its header", cr.n)
	}
}

func TestSymbol(t *testing.T) {
	for _, s := range []string{"A", "BTC-USD", "12345678", "a.b_c"} {
		v, ok := MakeSymbol(s)
		if !ok || v.String() != s {
			t.Errorf("MakeSymbol(%q) = %q, %v", s, v, ok)
		}
	}
	for _, s := range []string{"", "123456789", "A B", "\x00A", "é"} {
		if _, ok := MakeSymbol(s); ok {
			t.Errorf("MakeSymbol(%q) accepted", s)
		}
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	frames := sampleFrames()
	var bufs [][]byte
	for i := range frames {
		b, _ := AppendFrame(nil, &frames[i])
		bufs = append(bufs, b)
	}
	var f Frame
	out := make([]byte, 0, MaxFrameSize)
	allocs := testing.AllocsPerRun(100, func() {
		for _, b := range bufs {
			if _, err := DecodeFrame(b, 0, &f); err != nil {
				t.Fatal(err)
			}
			out, _ = AppendFrame(out[:0], &f)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per decode+encode of every type", allocs)
	}
}

func TestParseEnums(t *testing.T) {
	for _, s := range []Side{Buy, Sell} {
		if got, ok := ParseSide(s.String()); !ok || got != s {
			t.Errorf("ParseSide(%q) = %v %v", s, got, ok)
		}
	}
	for _, o := range []OrderType{Limit, Market} {
		if got, ok := ParseOrderType(o.String()); !ok || got != o {
			t.Errorf("ParseOrderType(%q) = %v %v", o, got, ok)
		}
	}
	for _, tif := range []TIF{GTC, IOC, FOK, POST} {
		if got, ok := ParseTIF(tif.String()); !ok || got != tif {
			t.Errorf("ParseTIF(%q) = %v %v", tif, got, ok)
		}
	}
	if _, ok := ParseSide("X"); ok {
		t.Error("ParseSide accepted X")
	}
	if _, ok := ParseTIF("gtc "); ok {
		t.Error("ParseTIF accepted junk")
	}
	if _, ok := ParseOrderType(""); ok {
		t.Error("ParseOrderType accepted empty")
	}
}
