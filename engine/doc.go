// Package engine is cowbook's deterministic matching core: price-time
// priority limit order books for many symbols, kept entirely in one
// off-heap arena, changed only by Apply.
//
// # Determinism
//
// Apply is a pure function of (arena, command): no clock, no randomness, no
// I/O, no map iteration, no pointers. The same commands applied to arenas
// formatted from the same Config leave byte-identical arenas and emit the
// same events. EventHash (a rolling hash of every event and sequence number,
// kept in the arena) and Checksum (a hash of every arena byte) make this
// checkable; the tests check it.
//
// # Large books
//
// A book much larger than the cache makes each command a chain of
// dependent cache misses (index, order, level, neighbours). A caller that
// holds the commands to come, as recovery's replay does, overlaps those
// chains with Prefetch, which only reads; Validate walks many level chains
// at once for the same reason. BenchmarkColdTail and
// BenchmarkValidateColdBook measure both on a 1M-order book.
//
// # Semantics
//
// Commands and their validation are specified in docs/command-file.md
// (DESIGN.md §3.1). A command is checked in this order, and the first
// failure is the rejection reason:
//
//	N: enumerations (ReasonInvalid), symbol, qty ≤ 0, qty > MaxQty,
//	   price (market: must be 0 and not POST; limit: band, then tick),
//	   duplicate live id, POST that would trade, pool full (only for an
//	   order that could rest: a GTC or POST limit).
//	C: symbol, live id.
//	R: symbol, live id, qty ≤ 0, qty > MaxQty, band, tick, POST that
//	   would trade at the new price.
//	S: name and band (ReasonBadSymbol), duplicate, symbol table full,
//	   level capacity.
//
// An accepted N emits EvAccepted, then one EvTrade per fill (at the maker's
// price, best level first, oldest order first), then EvCancelled if a
// remainder cannot rest (IOC, market, FOK not fillable in full). An R that
// keeps the price and does not increase the quantity keeps the order's
// place in its queue; any other R emits EvReplaced, moves the order to the
// tail of its new level and trades first if the new price crosses.
//
// # Arena layout (LayoutVersion 2)
//
// All offsets are from the start of the arena; all integers are native
// (little-endian on the supported platforms); the arena holds no Go
// pointers, so its bytes can be copied to a file and adopted anywhere with
// Attach.
//
//	+---------------------------+ 0
//	| header (4 KiB)            | magic, LayoutVersion, capacities, section
//	|                           | offsets, last sequence, event hash,
//	|                           | counters, pool free-list head, order
//	|                           | index table size and migration state
//	+---------------------------+ SymOff
//	| symbol table              | MaxSymbols × 192 B: name, tick, band,
//	|                           | last trade, per side {levels, bitmap,
//	|                           | summary offsets, best level, orders, qty}
//	+---------------------------+ SymIndexOff
//	| symbol index              | open addressing, uint32 per entry
//	+---------------------------+ OrderOff (4 KiB aligned)
//	| order pool                | (MaxOrders+1) × 32 B {id, remaining qty,
//	|                           | level, prev, next, account, symbol, side,
//	|                           | flags}; slot 0 is "none"
//	+---------------------------+ IndexOff
//	| order-id index            | 2 × IndexCap × 8 B {slot, hash}; the
//	|                           | table of size S is at entries [S, 2S):
//	|                           | IndexActive in use, IndexOld draining
//	+---------------------------+ TagOff
//	| order-id index tags       | 2 × IndexCap × 1 B, same positions,
//	|                           | probed before entries
//	+---------------------------+ HeapOff
//	| level heap                | per symbol, bump-allocated by S:
//	|                           | bid levels, ask levels (24 B each:
//	|                           | {qty, count, head, tail}), bid/ask
//	|                           | bitmaps, bid/ask summaries
//	+---------------------------+ AuxOff (4 KiB aligned; only if AuxSize > 0)
//	| auxiliary region          | Config.AuxBytes owned by the caller (the
//	|                           | node's idempotency table), never read by
//	|                           | the engine, saved and checksummed with it
//	+---------------------------+ ArenaSize (multiple of 2 MiB)
//
// Level i of a symbol holds price band_min + i×tick. A bitmap bit per level
// and a summary bit per bitmap word let the matcher find the next non-empty
// level in a few word operations, however sparse the book.
//
// # Capacity
//
// Nothing grows at run time except the order index table in use, which
// doubles inside its reserved region when an insert would take it above
// half full. Growth never stalls a command: the new table takes inserts at
// once and the old one's entries migrate a few positions per command
// (at most 8 positions examined per command, done before the next growth
// can be due); lookups probe both tables meanwhile. The migration state is
// in the header, so an arena copied mid-migration continues identically
// (index.go). When the pool, the symbol table or the level heap is full,
// the command is rejected.
//
// Version history: 1 had one index region of IndexCap entries, rehashed
// in one go at each doubling; 2 (this one) reserves twice that so a table
// and its double coexist, and adds IndexOld and IndexCursor to the header.
package engine
