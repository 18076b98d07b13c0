package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unsafe"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/internal/prefetch"
)

// ownerTable holds, for each slot of the engine's order pool, the client id
// of the order resting in it (engine.Event.Slot names the slot), so that
// the execution reports of a maker reach its owner without a lookup by
// order id. It lives in the arena's auxiliary region after the idempotency
// table and is written in sequence order, one store when a new order
// rests: on the engine goroutine when live, on replay's reader during
// replay (nothing reads it before replay is over). So it is saved and
// restored with every snapshot, and its bytes are a pure function of the
// log.
//
// Layout (little-endian, offsets within its region):
//
//	0   magic "CBOWNSLT"
//	8   slots u64 (the engine's MaxOrders + 1; slot 0 is never used)
//	16  slots × client id u64
//
// The entry of a slot is the owner of the order resting in it, 0 for an
// order placed by no client. The entry of a free slot still holds whoever
// rested there last; nothing reads it until the next order resting there
// overwrites it.
type ownerTable struct {
	mem   []byte
	slots uint64
}

const (
	ownerMagic  = "CBOWNSLT"
	ownerHeader = 16
	ownerEntry  = 8
)

// errOwners is returned when a loaded owner table is damaged.
var errOwners = errors.New("node: owner table damaged")

// ownerTableSize is the bytes an owner table for maxOrders takes.
func ownerTableSize(maxOrders int) int {
	return ownerHeader + (maxOrders+1)*ownerEntry
}

// initOwners formats mem (zeroed) for maxOrders.
func initOwners(mem []byte, maxOrders int) (*ownerTable, error) {
	n := ownerTableSize(maxOrders)
	if maxOrders < 1 || len(mem) < n {
		return nil, fmt.Errorf("%w: %d bytes for %d orders", errOwners, len(mem), maxOrders)
	}
	copy(mem, ownerMagic)
	binary.LittleEndian.PutUint64(mem[8:], uint64(maxOrders)+1)
	return &ownerTable{mem: mem[:n:n], slots: uint64(maxOrders) + 1}, nil
}

// openOwners adopts a loaded table for maxOrders after checking its header.
func openOwners(mem []byte, maxOrders int) (*ownerTable, error) {
	if len(mem) < ownerHeader || string(mem[:8]) != ownerMagic {
		return nil, fmt.Errorf("%w: bad magic", errOwners)
	}
	slots := binary.LittleEndian.Uint64(mem[8:])
	if slots != uint64(maxOrders)+1 || maxOrders < 1 || len(mem) < ownerTableSize(maxOrders) {
		return nil, fmt.Errorf("%w: %d slots in %d bytes, the engine has %d orders", errOwners, slots, len(mem), maxOrders)
	}
	n := ownerTableSize(maxOrders)
	return &ownerTable{mem: mem[:n:n], slots: slots}, nil
}

// get returns the owner of the order resting in slot, 0 for none or for a
// slot out of range (an event that names no slot).
func (t *ownerTable) get(slot uint32) uint64 {
	if slot == 0 || uint64(slot) >= t.slots {
		return 0
	}
	return binary.LittleEndian.Uint64(t.mem[ownerHeader+int(slot)*ownerEntry:])
}

// track records the owner of the order a command left resting, from its
// events: cid, the client that sent it, or 0 for none. It runs after the
// command's reports are queued: the new order may rest in the slot of a
// maker it filled, whose owner those reports needed.
func (t *ownerTable) track(cid uint64, events []engine.Event) {
	if slot := restingSlot(events); slot != 0 {
		t.set(slot, cid)
		return
	}
	if len(events) > 0 {
		if ev := &events[0]; ev.Kind == engine.EvCancelled && ev.Slot != 0 && uint64(ev.Slot) < t.slots {
			// The engine hands out the slot a cancel frees to the next
			// order that rests: on a large book its entry is long out of
			// the cache.
			prefetch.Line(unsafe.Pointer(&t.mem[ownerHeader+int(ev.Slot)*ownerEntry]))
		}
	}
}

// restingSlot returns the pool slot of the order a command left resting,
// from its events, or 0 if none rests.
func restingSlot(events []engine.Event) uint32 {
	if len(events) > 0 && events[0].Kind == engine.EvAccepted {
		return events[0].Slot
	}
	return 0
}

// set records cid as the owner of the order resting in slot (nothing for
// slot 0 or one out of range).
func (t *ownerTable) set(slot uint32, cid uint64) {
	if slot != 0 && uint64(slot) < t.slots {
		binary.LittleEndian.PutUint64(t.mem[ownerHeader+int(slot)*ownerEntry:], cid)
	}
}
