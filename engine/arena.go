package engine

import (
	"errors"
	"fmt"
	"unsafe"
)

// LayoutVersion is the version of the arena layout described in doc.go. It
// changes whenever the meaning of any arena byte does; Attach refuses an
// arena of another version.
const LayoutVersion = 2

// arenaMagic is the first word of every arena: "CowBook" and a format byte.
// Read as a little-endian integer it also tells a byte-swapped arena apart.
const arenaMagic uint64 = 0x01_6b_6f_6f_42_77_6f_43

// HugePage is the alignment and size granularity of arenas: one transparent
// huge page, so that the fork snapshotter's page-table copy stays small.
const HugePage = 2 << 20

const (
	headerSize = ArenaHeaderSize
	symStride  = 192
	orderSize  = 32
	levelSize  = 24
	noLevel    = -1
	// minIndexActive is the initial in-use size of the order index.
	minIndexActive = 64
)

// ErrLayout is returned by Attach when the bytes are not an arena this
// version can adopt: bad magic, another LayoutVersion, sizes or section
// offsets that disagree with the capacities in the header, or a symbol
// record that points outside its section.
var ErrLayout = errors.New("engine: arena layout mismatch")

// ErrClosed is returned by Apply after Close.
var ErrClosed = errors.New("engine: closed")

// ErrSequence is returned by Apply when seq is not LastSeq()+1. It is a
// programming error of the caller (the sequencer), never a client's.
var ErrSequence = errors.New("engine: command out of sequence")

// header is the first page of the arena. Every field is a fixed-size
// integer; the engine keeps no pointer into Go memory anywhere in the arena.
type header struct {
	Magic         uint64
	Layout        uint32
	HeaderSize    uint32
	ArenaSize     uint64
	MaxOrders     uint32
	MaxSymbols    uint32
	MaxLevels     uint32
	IndexCap      uint32
	LevelCapacity uint64
	SymIndexCap   uint32
	NSymbols      uint32
	SymOff        uint64
	SymIndexOff   uint64
	OrderOff      uint64
	IndexOff      uint64
	HeapOff       uint64
	HeapSize      uint64
	HeapUsed      uint64
	LevelsUsed    uint64

	FreeHead uint32 // first free order slot; 0 = none
	PoolHigh uint32 // slots 1..PoolHigh have been used; the rest are free
	Live     uint32 // resting orders
	// IndexActive is the size of the order-index table inserts go to: a
	// power of two from minIndexActive up to IndexCap, at positions
	// [IndexActive, 2×IndexActive) of the index region, doubled whenever
	// an insert would take its load above one half (see index.go).
	IndexActive uint32

	LastSeq   uint64
	EventHash uint64
	Commands  uint64
	Events    uint64
	Accepted  uint64
	Rejects   uint64
	Trades    uint64
	TradedQty uint64
	Cancels   uint64
	Replaces  uint64
	BidQty    uint64
	AskQty    uint64

	TagOff uint64 // order-index tag bytes, one per index entry

	// IndexOld is the size of the previous order-index table while its
	// entries migrate into the IndexActive one (always IndexActive/2),
	// 0 when no migration is in progress; IndexCursor is the position of
	// that table the migration examines next (all below it are empty).
	IndexOld    uint32
	IndexCursor uint32

	// AuxOff and AuxSize place the auxiliary region (Config.AuxBytes)
	// after the level heap. Both are zero in an arena without one, which
	// is what an arena formatted before the region existed holds in these
	// (then padding) bytes, so they need no layout version of their own.
	AuxOff  uint64
	AuxSize uint64
}

// bookSide is one side of a symbol's book inside its symbol record.
type bookSide struct {
	Levels uint64 // arena offset of NLevels level records
	Bits   uint64 // arena offset of Words bitmap words: bit i = level i non-empty
	Sum    uint64 // arena offset of SumWords words: bit j = Bits word j non-zero
	Best   int32  // best level index (bids: highest, asks: lowest); -1 when empty
	Orders uint32
	Qty    uint64
}

// symbol is one record of the symbol table.
type symbol struct {
	Name      uint64
	Tick      int64
	BandMin   int64
	BandMax   int64
	LastTrade int64 // 0 before the first trade
	NLevels   uint32
	Words     uint32
	SumWords  uint32
	_         uint32
	Side      [2]bookSide // 0 bids, 1 asks
	Trades    uint64
	TradedQty uint64
	_         [40]byte
}

// level is one price level: the FIFO of orders resting at one price.
type level struct {
	Qty   uint64
	Count uint32
	Head  uint32 // order slot; 0 = empty
	Tail  uint32
	_     uint32
}

// order is one record of the order pool. Slot 0 is never used, so 0 means
// "none" in every link.
type order struct {
	ID      uint64
	Qty     uint32 // remaining
	Level   uint32 // level index within its symbol's side
	Prev    uint32
	Next    uint32 // next in the level FIFO, or in the free list
	Account uint32
	Sym     uint16
	Side    uint8 // 1 buy, 2 sell; 0 free
	Flags   uint8
}

const flagPost = 1

func init() {
	// The arena layout is a contract; catch a field change at start-up.
	if unsafe.Sizeof(header{}) > headerSize || unsafe.Sizeof(symbol{}) != symStride ||
		unsafe.Sizeof(order{}) != orderSize || unsafe.Sizeof(level{}) != levelSize {
		panic("engine: arena record sizes changed; bump LayoutVersion and fix the constants")
	}
}

// layout is where each section of an arena lives, derived from capacities
// alone so that Attach can check a header against it.
type layout struct {
	symOff, symIndexOff, orderOff, indexOff, tagOff, heapOff, heapSize, size uint64
	auxOff                                                                   uint64
	indexCap, symIndexCap                                                    uint32
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

func pow2AtLeast(n uint64) uint64 {
	p := uint64(1)
	for p < n {
		p <<= 1
	}
	return p
}

// blockBytes is the heap space of a symbol with n levels: both sides' level
// arrays, bitmaps and summaries, rounded to a cache line.
func blockBytes(n uint64) uint64 {
	words := (n + 63) / 64
	sum := (words + 63) / 64
	return alignUp(2*n*levelSize+2*8*(words+sum), 64)
}

func computeLayout(maxOrders, maxSymbols, levelCap, auxBytes uint64) layout {
	var l layout
	l.symOff = headerSize
	l.symIndexCap = uint32(pow2AtLeast(2 * maxSymbols))
	l.symIndexOff = alignUp(l.symOff+maxSymbols*symStride, 64)
	l.orderOff = alignUp(l.symIndexOff+uint64(l.symIndexCap)*4, 4096)
	l.indexCap = uint32(pow2AtLeast(2 * maxOrders))
	l.indexOff = alignUp(l.orderOff+(maxOrders+1)*orderSize, 4096)
	// The table of size S lives at positions [S, 2S): every size up to
	// indexCap has its own place, so a table and its double coexist while
	// entries migrate (index.go).
	l.tagOff = alignUp(l.indexOff+2*uint64(l.indexCap)*8, 4096)
	l.heapOff = alignUp(l.tagOff+2*uint64(l.indexCap), 4096)
	// Σ blockBytes(n_i) over at most maxSymbols symbols with Σ n_i ≤
	// levelCap is at most this: each symbol adds at most one partial
	// bitmap word, one partial summary word and 63 bytes of rounding.
	l.heapSize = alignUp(2*levelCap*levelSize+16*(levelCap/64+levelCap/4096)+maxSymbols*(32+64), 4096)
	l.size = alignUp(l.heapOff+l.heapSize, HugePage)
	if auxBytes > 0 {
		l.auxOff = alignUp(l.heapOff+l.heapSize, 4096)
		l.size = alignUp(l.auxOff+auxBytes, HugePage)
	}
	return l
}

// ArenaSize returns the size in bytes of the arena New would allocate for
// cfg (after EnsureDefaults): a multiple of HugePage.
func ArenaSize(cfg Config) (int, error) {
	cfg.EnsureDefaults()
	if err := cfg.check(); err != nil {
		return 0, err
	}
	l := computeLayout(uint64(cfg.MaxOrders), uint64(cfg.MaxSymbols), uint64(cfg.LevelCapacity), uint64(cfg.AuxBytes))
	if l.size > uint64(maxInt) {
		return 0, fmt.Errorf("%w: arena of %d bytes", ErrConfig, l.size)
	}
	return int(l.size), nil
}

const maxInt = int(^uint(0) >> 1)
