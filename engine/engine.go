package engine

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unsafe"
)

// Engine applies commands to the book held in its arena. It is not safe for
// concurrent use: one goroutine owns it, as one thread owns an exchange's
// matching core.
type Engine struct {
	mem    []byte
	base   unsafe.Pointer
	h      *header
	syms   unsafe.Pointer
	symIdx unsafe.Pointer
	orders unsafe.Pointer
	index  unsafe.Pointer
	tags   unsafe.Pointer
	// The order index: the insert table's mask and base pointers, and
	// the mask of the table being drained (0 = none), all derived from
	// the header by bindIndex.
	idxMask uint32
	oldMask uint32
	curIdx  unsafe.Pointer
	curTags unsafe.Pointer
	symMask uint32
	owned   bool // mem came from AllocArena in New: Close frees it
	// migrated counts index migration steps done by this Engine (not
	// arena state: tests check the work per command with it).
	migrated uint64
	closed   bool
}

// New allocates an arena for cfg, formats it and defines cfg.Symbols.
func New(cfg Config) (*Engine, error) {
	cfg.EnsureDefaults()
	size, err := ArenaSize(cfg)
	if err != nil {
		return nil, err
	}
	mem, err := AllocArena(size)
	if err != nil {
		return nil, err
	}
	l := computeLayout(uint64(cfg.MaxOrders), uint64(cfg.MaxSymbols), uint64(cfg.LevelCapacity), uint64(cfg.AuxBytes))
	h := (*header)(unsafe.Pointer(&mem[0]))
	*h = header{
		Magic:         arenaMagic,
		Layout:        LayoutVersion,
		HeaderSize:    headerSize,
		ArenaSize:     l.size,
		MaxOrders:     uint32(cfg.MaxOrders),
		MaxSymbols:    uint32(cfg.MaxSymbols),
		MaxLevels:     uint32(cfg.MaxLevels),
		IndexCap:      l.indexCap,
		LevelCapacity: uint64(cfg.LevelCapacity),
		SymIndexCap:   l.symIndexCap,
		SymOff:        l.symOff,
		SymIndexOff:   l.symIndexOff,
		OrderOff:      l.orderOff,
		IndexOff:      l.indexOff,
		TagOff:        l.tagOff,
		HeapOff:       l.heapOff,
		HeapSize:      l.heapSize,
		IndexActive:   min(l.indexCap, minIndexActive),
		AuxOff:        l.auxOff,
		AuxSize:       uint64(cfg.AuxBytes),
	}
	e := &Engine{owned: true}
	e.bind(mem)
	for _, s := range cfg.Symbols {
		if r := e.defineSymbol(s.Symbol, s.Tick, s.BandMin, s.BandMax); r != ReasonNone {
			_ = FreeArena(mem)
			return nil, fmt.Errorf("%w: symbol %s: %s", ErrConfig, s.Symbol, r)
		}
	}
	return e, nil
}

func (e *Engine) bind(mem []byte) {
	e.mem = mem
	e.base = unsafe.Pointer(&mem[0])
	e.h = (*header)(e.base)
	e.syms = unsafe.Add(e.base, e.h.SymOff)
	e.symIdx = unsafe.Add(e.base, e.h.SymIndexOff)
	e.orders = unsafe.Add(e.base, e.h.OrderOff)
	e.index = unsafe.Add(e.base, e.h.IndexOff)
	e.tags = unsafe.Add(e.base, e.h.TagOff)
	e.bindIndex()
	e.symMask = e.h.SymIndexCap - 1
}

// Attach adopts an arena produced by another Engine (typically loaded from
// a snapshot). It checks the magic, LayoutVersion, the size of mem and that
// every section offset and symbol record agrees with the capacities in the
// header, that the symbol and order indexes hold what the header says, and
// returns an error wrapping ErrLayout otherwise. It does not walk the book
// (level chains, bitmaps): call Validate for that when the bytes are not
// already protected by a checksum, as a snapshot file's are.
//
// The caller keeps ownership of mem: it must stay mapped and unmodified by
// anyone else until Close, and Close does not free it.
func Attach(mem []byte) (*Engine, error) {
	if len(mem) < headerSize {
		return nil, fmt.Errorf("%w: %d bytes, smaller than a header", ErrLayout, len(mem))
	}
	if uintptr(unsafe.Pointer(&mem[0]))%8 != 0 {
		return nil, fmt.Errorf("%w: arena not 8-byte aligned", ErrLayout)
	}
	h := (*header)(unsafe.Pointer(&mem[0]))
	if h.Magic != arenaMagic {
		return nil, fmt.Errorf("%w: magic %#x", ErrLayout, h.Magic)
	}
	if h.Layout != LayoutVersion {
		return nil, fmt.Errorf("%w: layout version %d, this build reads %d", ErrLayout, h.Layout, LayoutVersion)
	}
	if h.HeaderSize != headerSize {
		return nil, fmt.Errorf("%w: header size %d", ErrLayout, h.HeaderSize)
	}
	cfg := Config{MaxOrders: int(h.MaxOrders), MaxSymbols: int(h.MaxSymbols), MaxLevels: int(h.MaxLevels), LevelCapacity: int(h.LevelCapacity)}
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("%w: capacities in header: %v", ErrLayout, err)
	}
	if h.AuxSize > 1<<40 {
		return nil, fmt.Errorf("%w: auxiliary region of %d bytes", ErrLayout, h.AuxSize)
	}
	l := computeLayout(uint64(h.MaxOrders), uint64(h.MaxSymbols), h.LevelCapacity, h.AuxSize)
	if h.ArenaSize != l.size || uint64(len(mem)) != l.size {
		return nil, fmt.Errorf("%w: arena is %d bytes, header says %d, capacities need %d", ErrLayout, len(mem), h.ArenaSize, l.size)
	}
	if h.SymOff != l.symOff || h.SymIndexOff != l.symIndexOff || h.OrderOff != l.orderOff ||
		h.IndexOff != l.indexOff || h.TagOff != l.tagOff || h.HeapOff != l.heapOff || h.HeapSize != l.heapSize ||
		h.IndexCap != l.indexCap || h.SymIndexCap != l.symIndexCap || h.AuxOff != l.auxOff {
		return nil, fmt.Errorf("%w: section offsets disagree with capacities", ErrLayout)
	}
	if h.NSymbols > h.MaxSymbols || h.HeapUsed > h.HeapSize || h.LevelsUsed > h.LevelCapacity ||
		h.PoolHigh > h.MaxOrders || h.Live > h.PoolHigh || h.FreeHead > h.PoolHigh ||
		h.IndexActive > h.IndexCap || h.IndexActive < min(h.IndexCap, minIndexActive) || h.IndexActive&(h.IndexActive-1) != 0 ||
		uint64(h.Live)*2 > uint64(h.IndexActive) || !migrationStateOK(h) {
		return nil, fmt.Errorf("%w: header counts out of range", ErrLayout)
	}
	e := &Engine{}
	e.bind(mem)
	if err := e.checkIndexes(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrLayout, err)
	}
	for i := uint32(0); i < h.NSymbols; i++ {
		if err := e.checkSymbolRecord(i); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrLayout, err)
		}
	}
	return e, nil
}

// checkIndexes checks that every symbol-index entry names a defined symbol
// and every in-use order-index entry a slot below the pool's high-water
// mark, and that their counts match the header. With fewer entries than
// positions, every probe sequence ends: a corrupt table cannot make a
// lookup loop or leave the arena.
func (e *Engine) checkIndexes() error {
	h := e.h
	if err := e.checkSymbolIndex(); err != nil {
		return err
	}
	n := uint32(0)
	for _, t := range e.indexTables() {
		m, err := e.checkIndexTable(t)
		if err != nil {
			return err
		}
		// At most half full: some position is empty, so every probe
		// of that table ends.
		if 2*m > t {
			return fmt.Errorf("order index table of %d entries holds %d", t, m)
		}
		n += m
	}
	if n != h.Live {
		return fmt.Errorf("order index holds %d entries, %d live orders", n, h.Live)
	}
	return nil
}

// checkSymbolIndex checks that every symbol-index entry names a defined
// symbol and that they are as many as the symbols.
func (e *Engine) checkSymbolIndex() error {
	h := e.h
	n := uint32(0)
	for p := uint32(0); p < h.SymIndexCap; p++ {
		if ent := *e.symSlot(p); ent != 0 {
			if ent > h.NSymbols {
				return fmt.Errorf("symbol index position %d: symbol %d of %d defined", p, ent-1, h.NSymbols)
			}
			n++
		}
	}
	if n != h.NSymbols {
		return fmt.Errorf("symbol index holds %d entries, %d symbols defined", n, h.NSymbols)
	}
	return nil
}

// migrationStateOK checks the header's index migration fields: none in
// progress, or the table of half the size being drained from a cursor
// inside it.
func migrationStateOK(h *header) bool {
	if h.IndexOld == 0 {
		return h.IndexCursor == 0
	}
	return h.IndexOld == h.IndexActive/2 && h.IndexOld >= min(h.IndexCap, minIndexActive) && h.IndexCursor < h.IndexOld
}

// indexTables returns the sizes of the order-index tables holding entries:
// the insert table, and the one being drained if a migration is in
// progress.
func (e *Engine) indexTables() []uint32 {
	if e.h.IndexOld != 0 {
		return []uint32{e.h.IndexActive, e.h.IndexOld}
	}
	return []uint32{e.h.IndexActive}
}

// checkIndexTable checks that the tag and entry of every position of the
// table of size t agree and that every entry names a slot below the pool's
// high-water mark, and returns the number of entries. A large table is
// checked in two halves on two goroutines: Attach runs this on every
// snapshot a node recovers from, before anything else can run.
func (e *Engine) checkIndexTable(t uint32) (uint32, error) {
	if t < indexSplitMin {
		return e.checkIndexPositions(t, 2*t)
	}
	type half struct {
		n   uint32
		err error
	}
	mid := t + t/2
	hi := make(chan half, 1)
	go func() {
		n, err := e.checkIndexPositions(mid, 2*t)
		hi <- half{n, err}
	}()
	n, err := e.checkIndexPositions(t, mid)
	h := <-hi
	switch {
	case err != nil:
		return 0, err
	case h.err != nil:
		return 0, h.err
	}
	return n + h.n, nil
}

// indexSplitMin is the smallest table checkIndexTable splits (a variable
// for tests).
var indexSplitMin uint32 = 1 << 18

// checkIndexPositions is checkIndexTable for positions [lo, hi) of one
// table. It first checks them without a branch per position (whether a
// position is occupied is a coin toss a branch would mispredict), and only
// looks for the first bad one once it knows there is one.
func (e *Engine) checkIndexPositions(lo, hi uint32) (uint32, error) {
	ents := unsafe.Slice(e.idx(lo), hi-lo)
	tags := unsafe.Slice(e.tag(lo), len(ents))
	high := e.h.PoolHigh
	var n, bad uint32
	for i, ent := range ents {
		slot := uint32(ent)
		var occ, above uint32
		if slot != 0 {
			occ = 1
		}
		if slot > high {
			above = 1
		}
		// An occupied position carries its hash's tag, an empty one no
		// tag and no hash bits.
		want := uint8(occ) * tagOf(uint32(ent>>32))
		bad |= uint32(tags[i]^want) | (1-occ)*uint32(ent>>32) | above
		n += occ
	}
	if bad == 0 {
		return n, nil
	}
	for p := lo; p < hi; p++ {
		ent := *e.idx(p)
		slot := uint32(ent)
		if tg := *e.tag(p); (slot == 0 && (tg != 0 || ent != 0)) || (slot != 0 && tg != tagOf(uint32(ent>>32))) {
			return 0, fmt.Errorf("order index position %d: tag %#x does not match entry %#x", p, tg, ent)
		}
		if slot > e.h.PoolHigh {
			return 0, fmt.Errorf("order index position %d: slot %d above high-water mark %d", p, slot, e.h.PoolHigh)
		}
	}
	return 0, fmt.Errorf("order index positions %d..%d: check failed without a bad position", lo, hi-1)
}

// checkSymbolRecord checks that symbol i's sections lie inside the used heap
// and its best-price caches inside its band, so that no access through the
// record can leave the arena.
func (e *Engine) checkSymbolRecord(i uint32) error {
	s := e.sym(i)
	if s.Tick <= 0 || s.BandMin <= 0 || s.BandMax < s.BandMin {
		return fmt.Errorf("symbol %d: bad tick/band", i)
	}
	n := uint64(s.NLevels)
	if n == 0 || n > uint64(e.h.MaxLevels) || uint64(s.BandMax-s.BandMin)/uint64(s.Tick)+1 != n {
		return fmt.Errorf("symbol %d: %d levels do not match band", i, n)
	}
	words := (n + 63) / 64
	if uint64(s.Words) != words || uint64(s.SumWords) != (words+63)/64 {
		return fmt.Errorf("symbol %d: bitmap sizes", i)
	}
	lo, hi := e.h.HeapOff, e.h.HeapOff+e.h.HeapUsed
	for k := range s.Side {
		sd := &s.Side[k]
		if sd.Levels < lo || sd.Levels+n*levelSize > hi ||
			sd.Bits < lo || sd.Bits+words*8 > hi ||
			sd.Sum < lo || sd.Sum+uint64(s.SumWords)*8 > hi ||
			sd.Levels%8 != 0 || sd.Bits%8 != 0 || sd.Sum%8 != 0 {
			return fmt.Errorf("symbol %d side %d: sections outside the heap", i, k)
		}
		if sd.Best < noLevel || sd.Best >= int32(n) {
			return fmt.Errorf("symbol %d side %d: best level %d out of range", i, k, sd.Best)
		}
	}
	return nil
}

// Close releases the engine. If New allocated the arena, Close unmaps it;
// an attached arena stays with its owner. Close is idempotent; after it,
// Apply returns ErrClosed and no other method may be called.
func (e *Engine) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	mem := e.mem
	e.mem, e.base, e.h = nil, nil, nil
	if e.owned {
		return FreeArena(mem)
	}
	return nil
}

// Arena returns the whole arena: HugePage aligned, its length a multiple of
// HugePage. These are the bytes a snapshot copies and Attach adopts. It is
// the engine's live state: do not modify it.
func (e *Engine) Arena() []byte { return e.mem }

// Aux returns the auxiliary region (Config.AuxBytes long; nil without one).
// The engine never reads or writes it: its owner (the node keeps its
// idempotency table there) changes it in sequence order alongside Apply, so
// that it is saved and restored with the arena. Checksum covers it.
func (e *Engine) Aux() []byte {
	if e.h.AuxSize == 0 {
		return nil
	}
	return e.mem[e.h.AuxOff : e.h.AuxOff+e.h.AuxSize : e.h.AuxOff+e.h.AuxSize]
}

// LastSeq returns the sequence number of the last applied command (0 for a
// fresh engine).
func (e *Engine) LastSeq() uint64 { return e.h.LastSeq }

// EventHash returns the rolling hash of every event emitted so far (and of
// each command's sequence number). It is kept in the arena header, so it
// survives snapshots: two engines that applied the same commands report the
// same hash.
func (e *Engine) EventHash() uint64 { return e.h.EventHash }

// Checksum hashes the whole arena. Two engines that applied the same
// commands from the same Config have byte-identical arenas and equal
// checksums. It reads every byte (tens of milliseconds per hundred MiB):
// a tool and test facility, not for the hot path.
func (e *Engine) Checksum() uint64 { return checksum(e.mem) }

func checksum(b []byte) uint64 {
	const (
		p1 = 0x9E3779B185EBCA87
		p2 = 0xC2B2AE3D27D4EB4F
	)
	// Four independent lanes so the multiplies pipeline.
	h := [4]uint64{p1, p2, p1 ^ p2, 0x165667B19E3779F9}
	i := 0
	for ; i+32 <= len(b); i += 32 {
		for k := 0; k < 4; k++ {
			v := binary.LittleEndian.Uint64(b[i+8*k:])
			h[k] = bits.RotateLeft64(h[k]+v*p2, 31) * p1
		}
	}
	x := uint64(len(b))
	for k := 0; k < 4; k++ {
		x = bits.RotateLeft64(x^h[k], 27)*p1 + p2
	}
	for ; i < len(b); i++ {
		x = (x ^ uint64(b[i])) * p1
	}
	x ^= x >> 33
	x *= p2
	x ^= x >> 29
	return x
}

// Accessors into the arena. Indices are trusted: they come from the arena
// itself, whose structure Attach and Validate check.

func (e *Engine) sym(i uint32) *symbol {
	return (*symbol)(unsafe.Add(e.syms, uintptr(i)*symStride))
}

func (e *Engine) ord(slot uint32) *order {
	return (*order)(unsafe.Add(e.orders, uintptr(slot)*orderSize))
}

func (e *Engine) idx(i uint32) *uint64 {
	return (*uint64)(unsafe.Add(e.index, uintptr(i)*8))
}

func (e *Engine) tag(i uint32) *uint8 {
	return (*uint8)(unsafe.Add(e.tags, uintptr(i)))
}

func (e *Engine) symSlot(i uint32) *uint32 {
	return (*uint32)(unsafe.Add(e.symIdx, uintptr(i)*4))
}

func (e *Engine) lvl(sd *bookSide, i int32) *level {
	return (*level)(unsafe.Add(e.base, uintptr(sd.Levels)+uintptr(i)*levelSize))
}

func (e *Engine) word(off uint64, i uint32) *uint64 {
	return (*uint64)(unsafe.Add(e.base, uintptr(off)+uintptr(i)*8))
}

// ArenaHeaderSize is the number of leading arena bytes PeekArenaSize reads.
const ArenaHeaderSize = 4096

// PeekArenaSize reads the arena size recorded in the first ArenaHeaderSize
// bytes of an arena, after checking its magic and LayoutVersion, so that a
// loader can allocate the arena (AllocArena) before reading the rest.
// Attach still checks everything else.
func PeekArenaSize(hdr []byte) (int, error) {
	if len(hdr) < int(unsafe.Sizeof(header{})) {
		return 0, fmt.Errorf("%w: %d header bytes", ErrLayout, len(hdr))
	}
	if m := binary.LittleEndian.Uint64(hdr[0:]); m != arenaMagic {
		return 0, fmt.Errorf("%w: magic %#x", ErrLayout, m)
	}
	if v := binary.LittleEndian.Uint32(hdr[8:]); v != LayoutVersion {
		return 0, fmt.Errorf("%w: layout version %d, this build reads %d", ErrLayout, v, LayoutVersion)
	}
	size := binary.LittleEndian.Uint64(hdr[16:])
	if size == 0 || size%HugePage != 0 || size > uint64(maxInt) {
		return 0, fmt.Errorf("%w: arena size %d", ErrLayout, size)
	}
	return int(size), nil
}
