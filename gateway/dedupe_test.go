package gateway

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cowbook/cowbook/gateway/wire"
)

// refDedupe is the obviously correct model: every accepted request of every
// client, forever, in a map.
type refDedupe struct {
	clients int
	window  int
	reqs    map[uint64][]refEntry // in acceptance order
}

type refEntry struct {
	id      uint64
	pending bool
	o       Outcome
}

func (r *refDedupe) lookup(cid, id uint64) (Verdict, Outcome) {
	es, ok := r.reqs[cid]
	if !ok {
		if len(r.reqs) >= r.clients {
			return VerdictClientLimit, Outcome{}
		}
		return VerdictNew, Outcome{}
	}
	if id > es[len(es)-1].id {
		return VerdictNew, Outcome{}
	}
	win := es
	if len(win) > r.window {
		win = win[len(win)-r.window:]
	}
	if id < win[0].id {
		return VerdictTooOld, Outcome{}
	}
	for _, e := range win {
		if e.id == id {
			if e.pending {
				return VerdictInFlight, Outcome{}
			}
			return VerdictDone, e.o
		}
	}
	return VerdictStale, Outcome{}
}

func TestDedupeMatchesReference(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 0))
		clients, window := 1+rng.IntN(8), 1+rng.IntN(16)
		d, err := NewDedupe(clients, window)
		if err != nil {
			t.Fatal(err)
		}
		ref := &refDedupe{clients: clients, window: window, reqs: map[uint64][]refEntry{}}
		var seq uint64
		for op := 0; op < 10000; op++ {
			cid := 1 + rng.Uint64N(uint64(clients+2))*0x1000003 // spread ids, some over the limit
			last := d.Last(cid)
			id := last + 1 + rng.Uint64N(3)
			if rng.IntN(3) == 0 && last > 0 {
				id = 1 + rng.Uint64N(last) // an old one
			}
			gv, go_ := d.Lookup(cid, id)
			rv, ro := ref.lookup(cid, id)
			if gv != rv || go_ != ro {
				t.Fatalf("seed %d op %d: Lookup(%d,%d) = %v %+v, reference %v %+v", seed, op, cid, id, gv, go_, rv, ro)
			}
			switch {
			case gv == VerdictNew && rng.IntN(2) == 0:
				if err := d.Accept(cid, id); err != nil {
					t.Fatalf("seed %d: Accept: %v", seed, err)
				}
				ref.reqs[cid] = append(ref.reqs[cid], refEntry{id: id, pending: true})
			case gv == VerdictNew:
				seq++
				o := Outcome{Seq: seq, Reason: wire.Reason(rng.IntN(2) * 100)}
				if err := d.Record(cid, id, o); err != nil {
					t.Fatalf("seed %d: Record: %v", seed, err)
				}
				ref.reqs[cid] = append(ref.reqs[cid], refEntry{id: id, o: o})
			case gv == VerdictInFlight:
				seq++
				o := Outcome{Seq: seq}
				if !d.Complete(cid, id, o) {
					t.Fatalf("seed %d: Complete of an in-flight request failed", seed)
				}
				for i, e := range ref.reqs[cid] {
					if e.id == id {
						ref.reqs[cid][i] = refEntry{id: id, o: o}
					}
				}
			case gv == VerdictDone:
				if d.Complete(cid, id, Outcome{Seq: 999}) {
					t.Fatalf("seed %d: Complete changed a finished request", seed)
				}
				if err := d.Accept(cid, id); !errors.Is(err, ErrDedupeOrder) {
					t.Fatalf("seed %d: Accept of a done request: %v", seed, err)
				}
			case gv == VerdictClientLimit:
				if err := d.Accept(cid, id); !errors.Is(err, ErrDedupeFull) {
					t.Fatalf("seed %d: Accept over the client limit: %v", seed, err)
				}
			}
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		// The bytes are the whole state: reopening them gives the same answers.
		o, err := OpenDedupe(bytes.Clone(d.Bytes()))
		if err != nil {
			t.Fatalf("seed %d: reopen: %v", seed, err)
		}
		for cid := range ref.reqs {
			for id := uint64(1); id <= d.Last(cid); id++ {
				v1, o1 := d.Lookup(cid, id)
				v2, o2 := o.Lookup(cid, id)
				if v1 != v2 || o1 != o2 {
					t.Fatalf("seed %d: reopened table differs at %d/%d", seed, cid, id)
				}
			}
		}
	}
}

// TestDedupeDeterministic: the same calls give the same bytes, the property
// that lets recovery rebuild the table from the log.
func TestDedupeDeterministic(t *testing.T) {
	build := func() []byte {
		d, _ := NewDedupe(4, 8)
		for i := uint64(1); i <= 100; i++ {
			_ = d.Record(1+i%3, i, Outcome{Seq: i, Reason: wire.Reason(i % 2 * 101)})
		}
		return d.Bytes()
	}
	if !bytes.Equal(build(), build()) {
		t.Fatal("same calls, different bytes")
	}
	d, _ := NewDedupe(4, 8)
	empty := bytes.Clone(d.Bytes())
	if err := d.Record(0, 5, Outcome{Seq: 1}); err != nil || !bytes.Equal(d.Bytes(), empty) {
		t.Fatalf("a command from no client changed the table (%v)", err)
	}
	if err := d.Accept(0, 5); !errors.Is(err, ErrDedupeOrder) {
		t.Fatalf("Accept for client 0: %v", err)
	}
}

func TestOpenDedupeRefusesDamage(t *testing.T) {
	d, _ := NewDedupe(4, 4)
	for i := uint64(1); i <= 30; i++ {
		_ = d.Record(1+i%5, i, Outcome{Seq: i})
	}
	good := d.Bytes()
	if _, err := OpenDedupe(good[:len(good)-1]); !errors.Is(err, ErrDedupeCorrupt) {
		t.Fatalf("short table: %v", err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	refused := 0
	for i := 0; i < 5000; i++ {
		b := bytes.Clone(good)
		for k := 0; k < 1+rng.IntN(3); k++ {
			b[rng.IntN(dedupeHeaderSize+dedupeSlots(4)*dedupeSlotSize+4*4*dedupeEntrySize)] ^= byte(1 + rng.IntN(255))
		}
		o, err := OpenDedupe(b) // must not panic
		if err != nil {
			if !errors.Is(err, ErrDedupeCorrupt) {
				t.Fatalf("error %v is not ErrDedupeCorrupt", err)
			}
			refused++
			continue
		}
		for cid := uint64(0); cid < 8; cid++ { // and a table it accepts is usable
			for id := uint64(0); id < 40; id++ {
				o.Lookup(cid, id)
			}
		}
	}
	if refused == 0 {
		t.Fatal("no damage detected")
	}
}
