package gateway

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/cowbook/cowbook/gateway/wire"
)

// Errors returned by Dedupe.
var (
	// ErrDedupeOrder is returned by Accept and Record when a request id is
	// not above the client's last one: the request would run twice.
	ErrDedupeOrder = errors.New("gateway: request id not above the client's last")
	// ErrDedupeFull is returned by Accept and Record when a new client id
	// finds no free client slot.
	ErrDedupeFull = errors.New("gateway: idempotency table full")
	// ErrDedupeCorrupt is returned by OpenDedupe when the memory does not
	// hold a well-formed table.
	ErrDedupeCorrupt = errors.New("gateway: idempotency table corrupt")
)

// Outcome is the result of one sequenced request: an Ack when Reason is 0,
// otherwise an engine reject. Gateway rejects (the request never reached the
// log) are not outcomes and are never remembered.
type Outcome struct {
	Seq    uint64
	Reason wire.Reason
}

// Verdict is what Dedupe.Lookup says about a (client id, request id).
type Verdict uint8

// Verdicts.
const (
	// VerdictNew: the request id is above the client's last; the request
	// may be sequenced.
	VerdictNew Verdict = iota + 1
	// VerdictDone: the request ran; Lookup returns its outcome.
	VerdictDone
	// VerdictInFlight: the request was accepted and its outcome is not
	// known yet; it will be delivered to the client's current session.
	VerdictInFlight
	// VerdictStale: the id is at or below the client's last and within the
	// remembered window, but was never accepted (the client skipped it, or
	// it got a gateway reject before a higher id was accepted).
	VerdictStale
	// VerdictTooOld: the id is below the oldest remembered one; its outcome
	// is forgotten.
	VerdictTooOld
	// VerdictClientLimit: the client id is new and the table has no room.
	VerdictClientLimit
)

// Dedupe is the idempotency table: for each client id, the highest request
// id accepted and the outcomes of its last Window accepted requests, in
// request id order. Clients must use strictly increasing request ids (gaps
// allowed); then "above the last id" means new and anything else is found
// in the window or refused, so a request can never run twice.
//
// The table lives in one flat byte slice addressed by offsets, with no
// pointers, maps or clocks: its bytes are a pure function of the sequence
// of Accept/Complete/Record calls, so the node can rebuild it by replaying
// the log, and can keep it inside its snapshot (or its arena) and load it
// back anywhere. Layout (little-endian):
//
//	header (64 B): magic u64 | version u32 | slots u32 | clients u32 | window u32 | used u32 | reserved
//	slots × 32 B:  client id u64 (0: empty) | last request id u64 | ring u32 | next u32 | count u32 | reserved u32
//	clients × window × 24 B: request id u64 | seq u64 | state u8 | reserved u8 | reason u16 | reserved u32
//
// Slots are an open-addressing hash of client ids (linear probing, twice as
// many slots as clients); ring is the index of the client's block of window
// entries, given in order of arrival. Client ids are never evicted: when
// `clients` ids have been seen, new ones are refused (VerdictClientLimit).
//
// A Dedupe is not safe for concurrent use.
type Dedupe struct {
	mem     []byte
	slots   int
	clients int
	window  int
	shift   uint
	ringOff int
}

const (
	dedupeMagic      uint64 = 0x3150554445444243 // "CBDEDUP1"
	dedupeVersion           = 1
	dedupeHeaderSize        = 64
	dedupeSlotSize          = 32
	dedupeEntrySize         = 24

	entryEmpty   = 0
	entryPending = 1
	entryDone    = 2
)

var dle = binary.LittleEndian

func dedupeSlots(clients int) int { return 1 << bits.Len(uint(2*clients-1)) }

// DedupeSize returns the bytes a table for clients × window needs, or 0 if
// either is not positive or the size would not fit in memory.
func DedupeSize(clients, window int) int {
	if clients <= 0 || window <= 0 || clients > 1<<24 || window > 1<<24 {
		return 0
	}
	return dedupeHeaderSize + dedupeSlots(clients)*dedupeSlotSize + clients*window*dedupeEntrySize
}

// NewDedupe returns an empty table for clients × window on the heap.
func NewDedupe(clients, window int) (*Dedupe, error) {
	n := DedupeSize(clients, window)
	if n == 0 {
		return nil, fmt.Errorf("gateway: bad idempotency table size %d clients × %d", clients, window)
	}
	return InitDedupe(make([]byte, n), clients, window)
}

// InitDedupe formats mem (at least DedupeSize bytes, for instance a region
// of the node's arena) as an empty table and returns it.
func InitDedupe(mem []byte, clients, window int) (*Dedupe, error) {
	n := DedupeSize(clients, window)
	if n == 0 || len(mem) < n {
		return nil, fmt.Errorf("gateway: idempotency table of %d clients × %d needs %d bytes, have %d", clients, window, n, len(mem))
	}
	mem = mem[:n]
	clear(mem)
	slots := dedupeSlots(clients)
	dle.PutUint64(mem[0:], dedupeMagic)
	dle.PutUint32(mem[8:], dedupeVersion)
	dle.PutUint32(mem[12:], uint32(slots))
	dle.PutUint32(mem[16:], uint32(clients))
	dle.PutUint32(mem[20:], uint32(window))
	return openDedupe(mem)
}

// OpenDedupe returns the table held in mem (bytes a node saved or mapped),
// after checking every structural invariant, so that a damaged table is
// refused rather than trusted.
func OpenDedupe(mem []byte) (*Dedupe, error) {
	if len(mem) < dedupeHeaderSize || dle.Uint64(mem[0:]) != dedupeMagic || dle.Uint32(mem[8:]) != dedupeVersion {
		return nil, fmt.Errorf("%w: bad header", ErrDedupeCorrupt)
	}
	clients, window := int(dle.Uint32(mem[16:])), int(dle.Uint32(mem[20:]))
	n := DedupeSize(clients, window)
	if n == 0 || int(dle.Uint32(mem[12:])) != dedupeSlots(clients) || len(mem) < n {
		return nil, fmt.Errorf("%w: sizes %d clients × %d in %d bytes", ErrDedupeCorrupt, clients, window, len(mem))
	}
	d, err := openDedupe(mem[:n])
	if err != nil {
		return nil, err
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return d, nil
}

func openDedupe(mem []byte) (*Dedupe, error) {
	slots := int(dle.Uint32(mem[12:]))
	return &Dedupe{
		mem:     mem,
		slots:   slots,
		clients: int(dle.Uint32(mem[16:])),
		window:  int(dle.Uint32(mem[20:])),
		shift:   uint(64 - bits.Len(uint(slots-1))),
		ringOff: dedupeHeaderSize + slots*dedupeSlotSize,
	}, nil
}

// Bytes returns the table's memory (not a copy): what a snapshot saves.
func (d *Dedupe) Bytes() []byte { return d.mem }

// Clone returns an independent copy of the table.
func (d *Dedupe) Clone() *Dedupe {
	c := *d
	c.mem = append([]byte(nil), d.mem...)
	return &c
}

// Window returns how many outcomes are remembered per client.
func (d *Dedupe) Window() int { return d.window }

// Clients returns how many client ids the table can hold.
func (d *Dedupe) Clients() int { return d.clients }

func (d *Dedupe) used() int { return int(dle.Uint32(d.mem[24:])) }

// slot returns the offset of cid's slot, or of the empty slot where it
// would go, and whether it is there.
func (d *Dedupe) slot(cid uint64) (int, bool) {
	i := int((cid * 0x9E3779B97F4A7C15) >> d.shift)
	for {
		off := dedupeHeaderSize + i*dedupeSlotSize
		switch dle.Uint64(d.mem[off:]) {
		case cid:
			return off, true
		case 0:
			return off, false
		}
		i = (i + 1) & (d.slots - 1)
	}
}

// entry returns the offset of logical entry i (0 = oldest) of a slot.
func (d *Dedupe) entry(slot, i int) int {
	ring := int(dle.Uint32(d.mem[slot+16:]))
	next := int(dle.Uint32(d.mem[slot+20:]))
	count := int(dle.Uint32(d.mem[slot+24:]))
	phys := (next - count + i + d.window) % d.window
	return d.ringOff + (ring*d.window+phys)*dedupeEntrySize
}

// Last returns the highest request id accepted from cid (0 if none).
func (d *Dedupe) Last(cid uint64) uint64 {
	if cid == 0 {
		return 0
	}
	off, ok := d.slot(cid)
	if !ok {
		return 0
	}
	return dle.Uint64(d.mem[off+8:])
}

// Lookup says what to do with request reqID of client cid.
func (d *Dedupe) Lookup(cid, reqID uint64) (Verdict, Outcome) {
	off, ok := d.slot(cid)
	if !ok {
		if d.used() >= d.clients {
			return VerdictClientLimit, Outcome{}
		}
		return VerdictNew, Outcome{}
	}
	if reqID > dle.Uint64(d.mem[off+8:]) {
		return VerdictNew, Outcome{}
	}
	e, found, tooOld := d.search(off, reqID)
	switch {
	case tooOld:
		return VerdictTooOld, Outcome{}
	case !found:
		return VerdictStale, Outcome{}
	case d.mem[e+16] == entryPending:
		return VerdictInFlight, Outcome{}
	}
	return VerdictDone, Outcome{Seq: dle.Uint64(d.mem[e+8:]), Reason: wire.Reason(dle.Uint16(d.mem[e+18:]))}
}

// search finds reqID among a slot's entries (sorted by request id).
func (d *Dedupe) search(slot int, reqID uint64) (off int, found, tooOld bool) {
	ring := int(dle.Uint32(d.mem[slot+16:]))
	next := int(dle.Uint32(d.mem[slot+20:]))
	count := int(dle.Uint32(d.mem[slot+24:]))
	base := d.ringOff + ring*d.window*dedupeEntrySize
	first := next - count + d.window // logical 0, before the modulo
	at := func(i int) int { return base + ((first+i)%d.window)*dedupeEntrySize }
	if count == 0 || reqID < dle.Uint64(d.mem[at(0):]) {
		return 0, false, true
	}
	lo, hi := 0, count
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if dle.Uint64(d.mem[at(mid):]) < reqID {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < count {
		if e := at(lo); dle.Uint64(d.mem[e:]) == reqID {
			return e, true, false
		}
	}
	return 0, false, false
}

// Accept records that request reqID of cid was handed to the sequencer and
// its outcome is pending. reqID must be above the client's last.
func (d *Dedupe) Accept(cid, reqID uint64) error {
	return d.push(cid, reqID, entryPending, Outcome{})
}

// Record records a request together with its outcome: what the node does
// for every command it applies, live and during recovery replay. A command
// with client id 0 came from no client (an operator, a command file) and is
// not recorded.
func (d *Dedupe) Record(cid, reqID uint64, o Outcome) error {
	if cid == 0 {
		return nil
	}
	return d.push(cid, reqID, entryDone, o)
}

func (d *Dedupe) push(cid, reqID uint64, state byte, o Outcome) error {
	if cid == 0 || reqID == 0 {
		return fmt.Errorf("%w: client %d request %d", ErrDedupeOrder, cid, reqID)
	}
	off, ok := d.slot(cid)
	if !ok {
		used := d.used()
		if used >= d.clients {
			return fmt.Errorf("%w: %d clients", ErrDedupeFull, used)
		}
		clear(d.mem[off : off+dedupeSlotSize])
		dle.PutUint64(d.mem[off:], cid)
		dle.PutUint32(d.mem[off+16:], uint32(used))
		dle.PutUint32(d.mem[24:], uint32(used+1))
	}
	if last := dle.Uint64(d.mem[off+8:]); reqID <= last {
		return fmt.Errorf("%w: client %d request %d, last %d", ErrDedupeOrder, cid, reqID, last)
	}
	next := int(dle.Uint32(d.mem[off+20:]))
	count := int(dle.Uint32(d.mem[off+24:]))
	ring := int(dle.Uint32(d.mem[off+16:]))
	e := d.ringOff + (ring*d.window+next)*dedupeEntrySize
	dle.PutUint64(d.mem[e:], reqID)
	dle.PutUint64(d.mem[e+8:], o.Seq)
	d.mem[e+16] = state
	d.mem[e+17] = 0
	dle.PutUint16(d.mem[e+18:], uint16(o.Reason))
	dle.PutUint32(d.mem[e+20:], 0)
	dle.PutUint32(d.mem[off+20:], uint32((next+1)%d.window))
	if count < d.window {
		dle.PutUint32(d.mem[off+24:], uint32(count+1))
	}
	dle.PutUint64(d.mem[off+8:], reqID)
	return nil
}

// Complete fills in the outcome of an accepted request. It reports false if
// the request is not pending in the window (already complete, or evicted by
// newer requests), in which case nothing changes.
func (d *Dedupe) Complete(cid, reqID uint64, o Outcome) bool {
	off, ok := d.slot(cid)
	if !ok {
		return false
	}
	e, found, _ := d.search(off, reqID)
	if !found || d.mem[e+16] != entryPending {
		return false
	}
	dle.PutUint64(d.mem[e+8:], o.Seq)
	d.mem[e+16] = entryDone
	dle.PutUint16(d.mem[e+18:], uint16(o.Reason))
	return true
}

// Validate checks every structural invariant: slot count and ring indexes,
// ring positions, entries strictly increasing up to the client's last id,
// and each client reachable by its hash. It returns the first violation.
func (d *Dedupe) Validate() error {
	used := d.used()
	if used > d.clients || !zero(d.mem[28:dedupeHeaderSize]) {
		return fmt.Errorf("%w: %d clients used of %d, or reserved header bytes set", ErrDedupeCorrupt, used, d.clients)
	}
	seenRing := make([]bool, used)
	n := 0
	for i := 0; i < d.slots; i++ {
		off := dedupeHeaderSize + i*dedupeSlotSize
		cid := dle.Uint64(d.mem[off:])
		if cid == 0 {
			if !zero(d.mem[off : off+dedupeSlotSize]) {
				return fmt.Errorf("%w: empty slot %d not zero", ErrDedupeCorrupt, i)
			}
			continue
		}
		n++
		ring, next, count := int(dle.Uint32(d.mem[off+16:])), int(dle.Uint32(d.mem[off+20:])), int(dle.Uint32(d.mem[off+24:]))
		if ring >= used || seenRing[ring] || next >= d.window || count > d.window || (count < d.window && next != count) {
			return fmt.Errorf("%w: client %d slot %d: ring %d next %d count %d", ErrDedupeCorrupt, cid, i, ring, next, count)
		}
		seenRing[ring] = true
		if at, ok := d.slot(cid); !ok || at != off {
			return fmt.Errorf("%w: client %d slot %d unreachable", ErrDedupeCorrupt, cid, i)
		}
		var prev uint64
		for j := 0; j < count; j++ {
			e := d.entry(off, j)
			id, st := dle.Uint64(d.mem[e:]), d.mem[e+16]
			if id <= prev || (st != entryPending && st != entryDone) {
				return fmt.Errorf("%w: client %d entry %d: request %d state %d", ErrDedupeCorrupt, cid, j, id, st)
			}
			prev = id
		}
		if last := dle.Uint64(d.mem[off+8:]); last == 0 || (count > 0 && prev != last) {
			return fmt.Errorf("%w: client %d: last %d, newest entry %d", ErrDedupeCorrupt, cid, last, prev)
		}
	}
	if n != used {
		return fmt.Errorf("%w: %d client slots, header says %d", ErrDedupeCorrupt, n, used)
	}
	return nil
}

func zero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
