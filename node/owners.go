package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/prefetch"
)

// ownerTable maps each resting order (symbol, order id) to the client id
// that placed it, so that the execution reports of a maker reach its
// owner. It lives in the arena's auxiliary region after the idempotency
// table, is changed on the engine goroutine in sequence order (live and
// during replay), and so is saved and restored with every snapshot: its
// bytes are a pure function of the log.
//
// Layout (little-endian, offsets within its region):
//
//	0   magic "CBOWNERS"
//	8   capacity u64 (a power of two, at least twice the order capacity)
//	16  count u64
//	24  capacity × {symbol u64, order id u64, client id u64}; symbol 0 = empty
//
// Linear probing from the hash of (symbol, id), with backward-shift
// deletion, so no tombstones accumulate. Orders placed by no client
// (client id 0) are not stored.
type ownerTable struct {
	mem  []byte
	mask uint64
}

const (
	ownerMagic  = "CBOWNERS"
	ownerHeader = 24
	ownerEntry  = 24
)

// errOwners is returned when a loaded owner table is damaged.
var errOwners = errors.New("node: owner table damaged")

func ownerCapacity(maxOrders int) uint64 {
	c := uint64(64)
	for c < 2*uint64(maxOrders) {
		c <<= 1
	}
	return c
}

// ownerTableSize is the bytes an owner table for maxOrders takes.
func ownerTableSize(maxOrders int) int {
	return ownerHeader + int(ownerCapacity(maxOrders))*ownerEntry
}

// initOwners formats mem (zeroed) for maxOrders.
func initOwners(mem []byte, maxOrders int) (*ownerTable, error) {
	c := ownerCapacity(maxOrders)
	if len(mem) < ownerHeader+int(c)*ownerEntry {
		return nil, fmt.Errorf("%w: %d bytes for %d entries", errOwners, len(mem), c)
	}
	copy(mem, ownerMagic)
	binary.LittleEndian.PutUint64(mem[8:], c)
	binary.LittleEndian.PutUint64(mem[16:], 0)
	return &ownerTable{mem: mem[:ownerHeader+int(c)*ownerEntry], mask: c - 1}, nil
}

// openOwners adopts a loaded table after checking its header.
func openOwners(mem []byte) (*ownerTable, error) {
	if len(mem) < ownerHeader || string(mem[:8]) != ownerMagic {
		return nil, fmt.Errorf("%w: bad magic", errOwners)
	}
	c := binary.LittleEndian.Uint64(mem[8:])
	if c == 0 || c&(c-1) != 0 || uint64(len(mem)) < ownerHeader+c*ownerEntry {
		return nil, fmt.Errorf("%w: capacity %d in %d bytes", errOwners, c, len(mem))
	}
	t := &ownerTable{mem: mem[:ownerHeader+c*ownerEntry], mask: c - 1}
	if t.count() >= c {
		return nil, fmt.Errorf("%w: count %d, capacity %d", errOwners, t.count(), c)
	}
	return t, nil
}

func (t *ownerTable) count() uint64 { return binary.LittleEndian.Uint64(t.mem[16:]) }

func (t *ownerTable) setCount(n uint64) { binary.LittleEndian.PutUint64(t.mem[16:], n) }

func (t *ownerTable) entry(i uint64) []byte {
	off := ownerHeader + i*ownerEntry
	return t.mem[off : off+ownerEntry : off+ownerEntry]
}

func ownerHash(sym engine.Symbol, id engine.OrderID) uint64 {
	h := uint64(sym)*0x9e3779b97f4a7c15 ^ uint64(id)*0xc2b2ae3d27d4eb4f
	return h ^ h>>29
}

// find returns the slot holding (sym, id), or the empty slot where it
// would go, and whether it was found.
func (t *ownerTable) find(sym engine.Symbol, id engine.OrderID) (uint64, bool) {
	i := ownerHash(sym, id) & t.mask
	for {
		e := t.entry(i)
		s := engine.Symbol(binary.LittleEndian.Uint64(e))
		if s == 0 {
			return i, false
		}
		if s == sym && engine.OrderID(binary.LittleEndian.Uint64(e[8:])) == id {
			return i, true
		}
		i = (i + 1) & t.mask
	}
}

// get returns the owner of (sym, id), 0 if unknown.
func (t *ownerTable) get(sym engine.Symbol, id engine.OrderID) uint64 {
	i, ok := t.find(sym, id)
	if !ok {
		return 0
	}
	return binary.LittleEndian.Uint64(t.entry(i)[16:])
}

// put records the owner of a new order. The table holds at most half its
// capacity because the engine holds at most MaxOrders resting orders.
func (t *ownerTable) put(sym engine.Symbol, id engine.OrderID, cid uint64) {
	i, ok := t.find(sym, id)
	e := t.entry(i)
	if !ok {
		if t.count()*2 >= t.mask+1 {
			return // cannot happen while entries track resting orders; never overfill
		}
		binary.LittleEndian.PutUint64(e, uint64(sym))
		binary.LittleEndian.PutUint64(e[8:], uint64(id))
		t.setCount(t.count() + 1)
	}
	binary.LittleEndian.PutUint64(e[16:], cid)
}

// remove forgets (sym, id), shifting back the entries of its probe run.
func (t *ownerTable) remove(sym engine.Symbol, id engine.OrderID) {
	i, ok := t.find(sym, id)
	if !ok {
		return
	}
	j := i
	for {
		j = (j + 1) & t.mask
		e := t.entry(j)
		s := engine.Symbol(binary.LittleEndian.Uint64(e))
		if s == 0 {
			break
		}
		home := ownerHash(s, engine.OrderID(binary.LittleEndian.Uint64(e[8:]))) & t.mask
		// Move e back into the hole at i unless its home lies cyclically in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			copy(t.entry(i), e)
			i = j
		}
	}
	clear(t.entry(i))
	t.setCount(t.count() - 1)
}

// track updates the table after a command applied with events.
func (t *ownerTable) track(e *engine.Engine, cmd *engine.Command, cid uint64, events []engine.Event) {
	var buf [8]ownerOp
	t.run(ownerOps(e, cmd, cid, events, buf[:0]))
}

// ownerOp is one change to the table: id now belongs to cid, or, when cid
// is zero, id left the book.
type ownerOp struct {
	sym engine.Symbol
	id  engine.OrderID
	cid uint64
}

// ownerOps appends to dst the changes to the table that a command applied
// with events makes. It reads the engine (which orders are still live), so
// it runs right after the command; the changes can be run later, in order.
func ownerOps(e *engine.Engine, cmd *engine.Command, cid uint64, events []engine.Event, dst []ownerOp) []ownerOp {
	for i := range events {
		ev := &events[i]
		switch ev.Kind {
		case engine.EvAccepted:
			if ev.ID != 0 && cid != 0 {
				dst = append(dst, ownerOp{ev.Symbol, ev.ID, cid})
			}
		case engine.EvTrade:
			if _, live := e.Order(ev.Symbol, ev.Maker); !live {
				dst = append(dst, ownerOp{ev.Symbol, ev.Maker, 0})
			}
		case engine.EvCancelled:
			dst = append(dst, ownerOp{ev.Symbol, ev.ID, 0})
		}
	}
	if cmd.Kind == engine.CmdNew && len(events) > 1 {
		if _, live := e.Order(cmd.Symbol, cmd.ID); !live {
			dst = append(dst, ownerOp{cmd.Symbol, cmd.ID, 0})
		}
	}
	return dst
}

// run makes the changes ops, in order.
func (t *ownerTable) run(ops []ownerOp) {
	const ahead = 8 // the table is as large as the book: overlap its misses
	for i := range ops {
		if j := i + ahead; j < len(ops) {
			off := ownerHeader + (ownerHash(ops[j].sym, ops[j].id)&t.mask)*ownerEntry
			prefetch.Line(unsafe.Pointer(&t.mem[off]))
		}
		if op := &ops[i]; op.cid != 0 {
			t.put(op.sym, op.id, op.cid)
		} else {
			t.remove(op.sym, op.id)
		}
	}
}
