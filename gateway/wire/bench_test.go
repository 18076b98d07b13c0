package wire

import (
	"bytes"
	"testing"
)

func BenchmarkEncode(b *testing.B) {
	for _, fr := range sampleFrames() {
		if fr.Type != TypeNewOrder && fr.Type != TypeAck && fr.Type != TypeTrade && fr.Type != TypeReject {
			continue
		}
		b.Run("type="+fr.Type.String(), func(b *testing.B) {
			buf := make([]byte, 0, MaxFrameSize)
			one, _ := AppendFrame(nil, &fr)
			b.SetBytes(int64(len(one)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = AppendFrame(buf[:0], &fr)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, fr := range sampleFrames() {
		if fr.Type != TypeNewOrder && fr.Type != TypeAck && fr.Type != TypeTrade && fr.Type != TypeReject {
			continue
		}
		b.Run("type="+fr.Type.String(), func(b *testing.B) {
			in, _ := AppendFrame(nil, &fr)
			var out Frame
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeFrame(in, 0, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReaderNewOrder decodes a stream of NewOrder frames through the
// Reader, the path the gateway's connection reader takes.
func BenchmarkReaderNewOrder(b *testing.B) {
	const n = 1024
	var stream []byte
	for i := 0; i < n; i++ {
		stream = AppendNewOrder(stream, &NewOrder{ReqID: uint64(i + 1), OrderID: uint64(i + 1), Account: 1, Price: 100, Qty: 1, Symbol: sym("BTC"), Side: Buy, Type: Limit, TIF: GTC})
	}
	src := bytes.NewReader(stream)
	r := NewReader(src, 0)
	var f Frame
	b.SetBytes(int64(len(stream) / n))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == n {
			src.Reset(stream)
			i = 0
		}
		if err := r.Read(&f); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCopyFloor copies a NewOrder frame's bytes into a reused buffer:
// the floor for encoding and decoding one frame.
func BenchmarkCopyFloor(b *testing.B) {
	src := AppendNewOrder(nil, &NewOrder{ReqID: 1, OrderID: 2, Account: 3, Price: 4, Qty: 5, Symbol: sym("BTC"), Side: Buy, Type: Limit, TIF: GTC})
	dst := make([]byte, 0, MaxFrameSize)
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		dst = append(dst[:0], src...)
	}
}
