package engine

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unsafe"
)

// tableConfig: symbol X with tick 5 over [100, 500], a pool of 4 orders,
// room for one more symbol of at most 100 levels.
func tableConfig() Config {
	return Config{MaxOrders: 4, MaxSymbols: 2, MaxLevels: 100, LevelCapacity: 180,
		Symbols: []SymbolSpec{{Symbol: MustSymbol("X"), Tick: 5, BandMin: 100, BandMax: 500}}}
}

func mustParse(t *testing.T, line string) Command {
	t.Helper()
	c, err := ParseCommand([]byte(line))
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	return c
}

// bookState is the arena without the header fields every command changes
// (sequence, counters, event hash): what must not move on a rejection.
func bookState(e *Engine) []byte {
	b := bytes.Clone(e.Arena())
	h := *e.h
	h.LastSeq, h.EventHash, h.Commands, h.Events, h.Rejects, h.Accepted = 0, 0, 0, 0, 0, 0
	copy(b, unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)))
	return b
}

func TestTable(t *testing.T) {
	cases := []struct {
		name  string
		setup []string
		cmd   string
		want  []string
	}{
		// Order types.
		{"limit rests", nil, "N,X,1,7,B,L,GTC,200,10", []string{"accepted X id=1 B 10@200"}},
		{"limit crosses at maker price, rest rests",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,205,4"},
			"N,X,3,8,B,L,GTC,210,10",
			[]string{"accepted X id=3 B 10@210", "trade X maker=1 taker=3 B 4@200", "trade X maker=2 taker=3 B 4@205"}},
		{"time priority within a level",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,200,4"},
			"N,X,3,8,B,L,IOC,200,5",
			[]string{"accepted X id=3 B 5@200", "trade X maker=1 taker=3 B 4@200", "trade X maker=2 taker=3 B 1@200"}},
		{"IOC remainder cancelled",
			[]string{"N,X,1,7,B,L,GTC,200,4"},
			"N,X,2,8,S,L,IOC,195,10",
			[]string{"accepted X id=2 S 10@195", "trade X maker=1 taker=2 S 4@200", "cancelled X id=2 ioc-remainder S 6@195"}},
		{"IOC without a cross", nil, "N,X,2,8,S,L,IOC,195,10",
			[]string{"accepted X id=2 S 10@195", "cancelled X id=2 ioc-remainder S 10@195"}},
		{"FOK exactly fillable over two levels",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,205,6", "N,X,3,7,S,L,GTC,210,6"},
			"N,X,4,8,B,L,FOK,205,10",
			[]string{"accepted X id=4 B 10@205", "trade X maker=1 taker=4 B 4@200", "trade X maker=2 taker=4 B 6@205"}},
		{"FOK one short does not trade",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,205,6", "N,X,3,7,S,L,GTC,210,6"},
			"N,X,4,8,B,L,FOK,205,11",
			[]string{"accepted X id=4 B 11@205", "cancelled X id=4 fok-not-fillable B 11@205"}},
		{"market FOK", []string{"N,X,1,7,B,L,GTC,200,4"}, "N,X,2,8,S,M,FOK,0,4",
			[]string{"accepted X id=2 S 4@0", "trade X maker=1 taker=2 S 4@200"}},
		{"post-only rests", []string{"N,X,1,7,S,L,GTC,200,4"}, "N,X,2,8,B,L,POST,195,3",
			[]string{"accepted X id=2 B 3@195"}},
		{"market sweeps, remainder cancelled",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,500,6"},
			"N,X,3,8,B,M,IOC,0,20",
			[]string{"accepted X id=3 B 20@0", "trade X maker=1 taker=3 B 4@200", "trade X maker=2 taker=3 B 6@500", "cancelled X id=3 market-remainder B 10@0"}},
		{"market GTC never rests", nil, "N,X,3,8,B,M,GTC,0,20",
			[]string{"accepted X id=3 B 20@0", "cancelled X id=3 market-remainder B 20@0"}},
		{"cancel", []string{"N,X,1,7,B,L,GTC,200,4"}, "C,X,1",
			[]string{"cancelled X id=1 cancelled B 4@200"}},
		{"id reusable once filled",
			[]string{"N,X,1,7,B,L,GTC,200,4", "N,X,2,8,S,L,IOC,200,4"},
			"N,X,1,7,B,L,GTC,200,4", []string{"accepted X id=1 B 4@200"}},
		{"replace same price smaller keeps priority",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,200,4", "R,X,1,200,2"},
			"N,X,3,8,B,L,IOC,200,3",
			[]string{"accepted X id=3 B 3@200", "trade X maker=1 taker=3 B 2@200", "trade X maker=2 taker=3 B 1@200"}},
		{"replace same price larger loses priority",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,200,4", "R,X,1,200,5"},
			"N,X,3,8,B,L,IOC,200,3",
			[]string{"accepted X id=3 B 3@200", "trade X maker=2 taker=3 B 3@200"}},
		{"replace to another price loses priority",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,7,S,L,GTC,200,4", "R,X,1,205,4", "R,X,1,200,4"},
			"N,X,3,8,B,L,IOC,200,3",
			[]string{"accepted X id=3 B 3@200", "trade X maker=2 taker=3 B 3@200"}},
		{"replace across the spread trades",
			[]string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,8,B,L,GTC,190,10"},
			"R,X,2,200,10",
			[]string{"replaced X id=2 B 10@200", "trade X maker=1 taker=2 B 4@200"}},
		{"replace returns the replaced", []string{"N,X,1,7,S,L,GTC,200,4"}, "R,X,1,300,9",
			[]string{"replaced X id=1 S 9@300"}},

		// Rejections: each must leave the book as it was.
		{"invalid side", nil, "", nil},
		{"unknown symbol", nil, "N,Y,1,7,B,L,GTC,200,10", []string{"rejected Y id=1 unknown-symbol B 10@200"}},
		{"unknown order cancel", nil, "C,X,9", []string{"rejected X id=9 unknown-order Side(0) 0@0"}},
		{"cancel of a filled order", []string{"N,X,1,7,B,L,GTC,200,4", "N,X,2,8,S,L,IOC,200,4"}, "C,X,1",
			[]string{"rejected X id=1 unknown-order Side(0) 0@0"}},
		{"unknown order replace", nil, "R,X,9,200,1", []string{"rejected X id=9 unknown-order Side(0) 1@200"}},
		{"duplicate live id", []string{"N,X,1,7,B,L,GTC,200,4"}, "N,X,1,7,S,L,GTC,300,4",
			[]string{"rejected X id=1 duplicate-order S 4@300"}},
		{"duplicate symbol", nil, "S,X,1,1,10", []string{"rejected X id=0 duplicate-symbol Side(0) 0@0"}},
		{"symbol tick 0", nil, "S,Y,0,1,10", []string{"rejected Y id=0 bad-symbol Side(0) 0@0"}},
		{"symbol band off tick", nil, "S,Y,3,1,11", []string{"rejected Y id=0 bad-symbol Side(0) 0@0"}},
		{"symbol band_min 0", nil, "S,Y,1,0,10", []string{"rejected Y id=0 bad-symbol Side(0) 0@0"}},
		{"symbol band inverted", nil, "S,Y,1,10,9", []string{"rejected Y id=0 bad-symbol Side(0) 0@0"}},
		{"symbol over MaxLevels", nil, "S,Y,1,1,101", []string{"rejected Y id=0 bad-symbol Side(0) 0@0"}},
		{"levels full", nil, "S,Y,1,1,100", []string{"rejected Y id=0 levels-full Side(0) 0@0"}},
		{"symbols full", []string{"S,Y,1,1,10"}, "S,Z,1,1,10", []string{"rejected Z id=0 symbols-full Side(0) 0@0"}},
		{"qty 0", nil, "N,X,1,7,B,L,GTC,200,0", []string{"rejected X id=1 bad-qty B 0@200"}},
		{"qty negative", nil, "N,X,1,7,B,L,GTC,200,-4", []string{"rejected X id=1 bad-qty B -4@200"}},
		{"qty overflow", nil, "N,X,1,7,B,L,GTC,200,4294967296", []string{"rejected X id=1 qty-overflow B 4294967296@200"}},
		{"replace qty 0", []string{"N,X,1,7,B,L,GTC,200,4"}, "R,X,1,200,0", []string{"rejected X id=1 bad-qty Side(0) 0@200"}},
		{"replace qty overflow", []string{"N,X,1,7,B,L,GTC,200,4"}, "R,X,1,200,4294967296",
			[]string{"rejected X id=1 qty-overflow Side(0) 4294967296@200"}},
		{"market with a price", nil, "N,X,1,7,B,M,IOC,200,4", []string{"rejected X id=1 bad-price B 4@200"}},
		{"market post-only", nil, "N,X,1,7,B,M,POST,0,4", []string{"rejected X id=1 bad-price B 4@0"}},
		{"below band", nil, "N,X,1,7,B,L,GTC,95,4", []string{"rejected X id=1 price-out-of-band B 4@95"}},
		{"above band", nil, "N,X,1,7,B,L,GTC,505,4", []string{"rejected X id=1 price-out-of-band B 4@505"}},
		{"off tick", nil, "N,X,1,7,B,L,GTC,202,4", []string{"rejected X id=1 price-off-tick B 4@202"}},
		{"replace off tick", []string{"N,X,1,7,B,L,GTC,200,4"}, "R,X,1,203,4", []string{"rejected X id=1 price-off-tick Side(0) 4@203"}},
		{"replace out of band", []string{"N,X,1,7,B,L,GTC,200,4"}, "R,X,1,600,4", []string{"rejected X id=1 price-out-of-band Side(0) 4@600"}},
		{"post-only would trade", []string{"N,X,1,7,S,L,GTC,200,4"}, "N,X,2,8,B,L,POST,200,3",
			[]string{"rejected X id=2 would-trade B 3@200"}},
		{"replace of post-only would trade", []string{"N,X,1,7,S,L,GTC,200,4", "N,X,2,8,B,L,POST,195,3"}, "R,X,2,200,3",
			[]string{"rejected X id=2 would-trade B 3@200"}},
		{"orders full", []string{"N,X,1,7,B,L,GTC,200,4", "N,X,2,7,B,L,GTC,200,4", "N,X,3,7,B,L,GTC,200,4", "N,X,4,7,B,L,GTC,200,4"},
			"N,X,5,7,B,L,GTC,190,4", []string{"rejected X id=5 orders-full B 4@190"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(tableConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			var seq uint64
			apply := func(c Command) []Event {
				t.Helper()
				seq++
				out, err := e.Apply(seq, &c, nil)
				if err != nil {
					t.Fatal(err)
				}
				return out
			}
			for _, l := range tc.setup {
				for _, ev := range apply(mustParse(t, l)) {
					if ev.Kind == EvRejected {
						t.Fatalf("setup %q rejected: %v", l, ev)
					}
				}
			}
			var c Command
			if tc.cmd == "" {
				c = Command{Kind: CmdNew, Symbol: MustSymbol("X"), ID: 1, Side: 3, Type: Limit, TIF: GTC, Price: 200, Qty: 1}
				tc.want = []string{"rejected X id=1 invalid Side(3) 1@200"}
			} else {
				c = mustParse(t, tc.cmd)
			}
			before := bookState(e)
			got := apply(c)
			var gs []string
			for _, ev := range got {
				gs = append(gs, ev.String())
			}
			if strings.Join(gs, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("events\n got %q\nwant %q", gs, tc.want)
			}
			if err := e.Validate(); err != nil {
				t.Fatal(err)
			}
			if got[0].Kind == EvRejected && !bytes.Equal(before, bookState(e)) {
				t.Fatalf("rejection changed the book")
			}
			if e.LastSeq() != seq {
				t.Fatalf("LastSeq %d, want %d", e.LastSeq(), seq)
			}
		})
	}
}

func TestInvalidEnums(t *testing.T) {
	e, err := New(tableConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sym := MustSymbol("X")
	cmds := []Command{
		{Kind: CmdNew, Symbol: sym, ID: 1, Side: 0, Type: Limit, TIF: GTC, Price: 200, Qty: 1},
		{Kind: CmdNew, Symbol: sym, ID: 1, Side: Buy, Type: 3, TIF: GTC, Price: 200, Qty: 1},
		{Kind: CmdNew, Symbol: sym, ID: 1, Side: Buy, Type: Limit, TIF: 0, Price: 200, Qty: 1},
		{Kind: CmdNew, Symbol: sym, ID: 1, Side: Buy, Type: Limit, TIF: 5, Price: 200, Qty: 1},
		{Kind: 'X', Symbol: sym},
		{Kind: 0},
	}
	before := bookState(e)
	for i := range cmds {
		out, err := e.Apply(uint64(i+1), &cmds[i], nil)
		if err != nil || len(out) != 1 || out[0].Kind != EvRejected || out[0].Reason != ReasonInvalid {
			t.Errorf("%+v: %v %v", cmds[i], out, err)
		}
	}
	if !bytes.Equal(before, bookState(e)) {
		t.Fatal("invalid commands changed the book")
	}
	if st := e.Stats(); st.Rejects != uint64(len(cmds)) || st.Commands != uint64(len(cmds)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestApplyErrors(t *testing.T) {
	e, err := New(tableConfig())
	if err != nil {
		t.Fatal(err)
	}
	c := mustParse(t, "N,X,1,7,B,L,GTC,200,10")
	if _, err := e.Apply(2, &c, nil); !errors.Is(err, ErrSequence) {
		t.Fatalf("seq 2 on a fresh engine: %v", err)
	}
	if _, err := e.Apply(0, &c, nil); !errors.Is(err, ErrSequence) {
		t.Fatalf("seq 0: %v", err)
	}
	if e.LastSeq() != 0 || e.Stats().Commands != 0 {
		t.Fatal("an out-of-sequence command was applied")
	}
	if _, err := e.Apply(1, &c, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(2, &c, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestConfigErrors(t *testing.T) {
	bad := []Config{
		{MaxOrders: -1},
		{MaxOrders: 1<<30 + 1},
		{MaxSymbols: 70000},
		{MaxLevels: -5},
		{MaxSymbols: 1, Symbols: []SymbolSpec{{Symbol: MustSymbol("A"), Tick: 1, BandMin: 1, BandMax: 2}, {Symbol: MustSymbol("B"), Tick: 1, BandMin: 1, BandMax: 2}}},
		{Symbols: []SymbolSpec{{Symbol: MustSymbol("A"), Tick: 0, BandMin: 1, BandMax: 2}}},
		{Symbols: []SymbolSpec{{Symbol: MustSymbol("A"), Tick: 1, BandMin: 1, BandMax: 2}, {Symbol: MustSymbol("A"), Tick: 1, BandMin: 1, BandMax: 2}}},
	}
	for _, cfg := range bad {
		if e, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v): %v", cfg, err)
			if e != nil {
				e.Close()
			}
		}
	}
}

func TestQueries(t *testing.T) {
	e, err := New(tableConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	x := MustSymbol("X")
	for i, l := range []string{"N,X,1,7,B,L,GTC,200,4", "N,X,2,7,B,L,GTC,195,5", "N,X,3,7,S,L,POST,210,6", "N,X,4,8,B,L,IOC,210,1"} {
		c := mustParse(t, l)
		if _, err := e.Apply(uint64(i+1), &c, nil); err != nil {
			t.Fatal(err)
		}
	}
	if b, ok := e.BestBid(x); !ok || b != (Level{Price: 200, Qty: 4, Orders: 1}) {
		t.Errorf("best bid %v %v", b, ok)
	}
	if a, ok := e.BestAsk(x); !ok || a != (Level{Price: 210, Qty: 5, Orders: 1}) {
		t.Errorf("best ask %v %v", a, ok)
	}
	if p, ok := e.LastTrade(x); !ok || p != 210 {
		t.Errorf("last trade %v %v", p, ok)
	}
	bids, asks := e.Depth(x, 0)
	if len(bids) != 2 || bids[1].Price != 195 || len(asks) != 1 {
		t.Errorf("depth %v %v", bids, asks)
	}
	if q, n := e.BookSide(x, Buy); q != 9 || n != 2 {
		t.Errorf("bid side %d %d", q, n)
	}
	if o, ok := e.Order(x, 3); !ok || !o.PostOnly || o.Qty != 5 || o.Side != Sell || o.Account != 7 {
		t.Errorf("order 3: %+v %v", o, ok)
	}
	st := e.Stats()
	if st.RestingOrders != 3 || st.BidQty != 9 || st.AskQty != 5 || st.Trades != 1 || st.TradedQty != 1 || st.Commands != 4 {
		t.Errorf("stats %+v", st)
	}
	if s := e.Symbols(); len(s) != 1 || s[0].Symbol != x || s[0].Levels != 81 {
		t.Errorf("symbols %+v", s)
	}
	if ss, ok := e.SymbolStats(x); !ok || ss != (SymbolStats{BidOrders: 2, AskOrders: 1, BidQty: 9, AskQty: 5, Trades: 1, TradedQty: 1, LastTrade: 210}) {
		t.Errorf("symbol stats %+v", ss)
	}
	if _, ok := e.BestBid(MustSymbol("NOPE")); ok {
		t.Error("best bid of an unknown symbol")
	}
}
