package node

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cowbook/cowbook/engine"
)

// FuzzManifest: any bytes either decode to a manifest that re-encodes to
// exactly themselves, or are refused with ErrManifest; never a panic.
func FuzzManifest(f *testing.F) {
	m := testManifest()
	good := m.marshal()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte(manifestMagic))
	empty := Manifest{MaxOrders: 1, MaxSymbols: 1, MaxLevels: 1, LevelCapacity: 1, DedupeClients: 1, DedupeWindow: 1}
	f.Add(empty.marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unmarshalManifest(b)
		if err != nil {
			if !errors.Is(err, ErrManifest) {
				t.Fatalf("error %v does not wrap ErrManifest", err)
			}
			return
		}
		if re := got.marshal(); !bytes.Equal(re, b) {
			t.Fatalf("decoded manifest re-encodes differently:\n%x\n%x", b, re)
		}
	})
}

// FuzzRecord: any payload either decodes to a command record that
// re-encodes to exactly itself, or is refused with ErrRecord.
func FuzzRecord(f *testing.F) {
	c := engine.Command{Kind: engine.CmdNew, Symbol: engine.MustSymbol("AAA"), ID: 7, Account: 3, Side: engine.Buy,
		Type: engine.Limit, TIF: engine.GTC, Price: 150, Qty: 9}
	f.Add(RecordCommand, appendRecord(nil, &c, 5, 6))
	s := engine.Command{Kind: engine.CmdDefineSymbol, Symbol: engine.MustSymbol("BBB"), Tick: 5, BandMin: 1000, BandMax: 1500}
	f.Add(RecordCommand, appendRecord(nil, &s, 0, 0))
	f.Add(uint8('X'), appendRecord(nil, &c, 5, 6))
	f.Add(RecordCommand, []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, typ uint8, p []byte) {
		cmd, cid, req, err := decodeRecord(typ, p)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", err)
			}
			return
		}
		if re := appendRecord(nil, &cmd, cid, req); !bytes.Equal(re, p) {
			t.Fatalf("record re-encodes differently:\n%x\n%x", p, re)
		}
	})
}
