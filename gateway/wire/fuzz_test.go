package wire

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzDecodeFrame feeds arbitrary bytes to the decoder. It must never panic,
// every failure must be a protocol error, a frame that decodes must re-encode
// to exactly the bytes it came from, and the streaming Reader must agree with
// DecodeFrame. The seed corpus (testdata/fuzz/FuzzDecodeFrame) holds one valid
// frame of every type and a few broken ones.
func FuzzDecodeFrame(f *testing.F) {
	for _, fr := range sampleFrames() {
		b, _ := AppendFrame(nil, &fr)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fr Frame
		n, err := DecodeFrame(data, 0, &fr)
		if err != nil {
			if !IsProtocolError(err) {
				t.Fatalf("non-protocol error %v", err)
			}
		} else {
			out, err := AppendFrame(nil, &fr)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			if !bytes.Equal(out, data[:n]) {
				t.Fatalf("re-encoding differs:\n in %x\nout %x", data[:n], out)
			}
		}
		var fr2 Frame
		rerr := NewReader(bytes.NewReader(data), 0).Read(&fr2)
		switch {
		case err == nil && rerr != nil:
			t.Fatalf("DecodeFrame ok, Reader %v", rerr)
		case err != nil && rerr == nil:
			t.Fatalf("DecodeFrame %v, Reader ok", err)
		case err != nil && len(data) > 0 && !errors.Is(rerr, io.EOF) && !IsProtocolError(rerr):
			t.Fatalf("Reader non-protocol error %v", rerr)
		}
	})
}
