package perf

import (
	"encoding/binary"
	"math/rand/v2"
)

// ArenaImage fills b with a synthetic but realistic engine arena, the same
// bytes for the same seed: what the snapshot file benchmarks and tests
// compress and load until the engine can produce real ones. Its shape
// follows DESIGN §2:
//
//   - a header page and a symbol table (64 symbols);
//   - per symbol, bid and ask level arrays of 32-byte levels
//     {qty, count, head, tail}, populated only near each symbol's mid;
//   - an order pool of 64-byte records {id, account, side, flags, price, qty,
//     original qty, prev, next, symbol, entry seq}, 40% in use with scattered
//     freed slots, the rest a zeroed free tail (a partially full pool);
//   - an order-id index of 16-byte open-addressing slots at about half load.
//
// Sizes are fractions of len(b), so any size works; below a few KiB it is
// mostly header.
func ArenaImage(b []byte, seed uint64) {
	clear(b)
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	le := binary.LittleEndian
	n := len(b)
	const (
		pageSize   = 4096
		symbols    = 64
		symRec     = 128
		levelRec   = 32
		orderRec   = 64
		indexSlot  = 16
		headerSize = pageSize
	)
	if n < headerSize+symbols*symRec {
		for i := range b { // a tiny image is just noise
			b[i] = byte(r.Uint32())
		}
		return
	}
	copy(b, "COWARENA")
	le.PutUint32(b[8:], 1)
	le.PutUint64(b[16:], uint64(n))
	off := headerSize
	mids := make([]int64, symbols)
	for s := 0; s < symbols; s++ {
		rec := b[off+s*symRec : off+(s+1)*symRec]
		copy(rec, []byte{'S', 'Y', 'M', byte('A' + s%26), byte('A' + s/26)})
		mids[s] = 1000 + int64(r.IntN(49000))
		le.PutUint64(rec[16:], 1)                                  // tick
		le.PutUint64(rec[24:], uint64(mids[s]-2000))               // band min
		le.PutUint64(rec[32:], uint64(mids[s]+2000))               // band max
		le.PutUint64(rec[40:], uint64(mids[s]-1))                  // best bid
		le.PutUint64(rec[48:], uint64(mids[s]+1))                  // best ask
		le.PutUint64(rec[56:], uint64(mids[s]+int64(r.IntN(3))-1)) // last trade
	}
	off += symbols * symRec
	rest := n - off
	levelBytes := rest / 10 / (symbols * 2 * levelRec) * (symbols * 2 * levelRec)
	indexBytes := rest / 5 / indexSlot * indexSlot
	poolBytes := (rest - levelBytes - indexBytes) / orderRec * orderRec

	// Level arrays: levels per side per symbol, populated within ±300 of mid.
	levels := levelBytes / (symbols * 2 * levelRec)
	for s := 0; s < symbols*2; s++ {
		base := off + s*levels*levelRec
		center := levels / 2
		for i := max(0, center-300); i < min(levels, center+300); i++ {
			if r.IntN(3) == 0 {
				continue
			}
			rec := b[base+i*levelRec:]
			le.PutUint64(rec[0:], uint64(100*(1+r.IntN(50))))
			le.PutUint32(rec[8:], uint32(1+r.IntN(20)))
			le.PutUint32(rec[12:], uint32(r.IntN(1<<22)))
			le.PutUint32(rec[16:], uint32(r.IntN(1<<22)))
		}
	}
	off += levelBytes

	// Order pool: 40% used, with one freed slot in ten inside the used part
	// linked into the free list.
	pool := b[off : off+poolBytes]
	slots := poolBytes / orderRec
	used := slots * 4 / 10
	id := uint64(1_000_000_000)
	var orders []uint64 // ids, for the index
	freeHead := uint32(0)
	for i := 0; i < used; i++ {
		rec := pool[i*orderRec : (i+1)*orderRec]
		if r.IntN(10) == 0 {
			le.PutUint32(rec[48:], freeHead) // next free
			freeHead = uint32(i + 1)
			continue
		}
		id += uint64(1 + r.IntN(4))
		s := r.IntN(symbols)
		side := byte(r.IntN(2))
		price := mids[s] - 1 - int64(r.IntN(200))
		if side == 1 {
			price = mids[s] + 1 + int64(r.IntN(200))
		}
		qty := uint64(100 * (1 + r.IntN(20)))
		le.PutUint64(rec[0:], id)
		le.PutUint32(rec[8:], uint32(1+r.IntN(5000))) // account
		rec[12] = side
		rec[13] = 1 // live
		le.PutUint64(rec[16:], uint64(price))
		le.PutUint64(rec[24:], qty-uint64(r.IntN(2))*qty/2)    // remaining
		le.PutUint64(rec[32:], qty)                            // original
		le.PutUint32(rec[40:], uint32(max(0, i-1-r.IntN(50)))) // prev
		le.PutUint32(rec[44:], uint32(i+1+r.IntN(50)))         // next
		le.PutUint16(rec[52:], uint16(s))
		le.PutUint64(rec[56:], id*3) // entry sequence
		orders = append(orders, id)
	}
	off += poolBytes

	// Order-id index: open addressing on a multiplicative hash.
	index := b[off : off+indexBytes]
	nslots := indexBytes / indexSlot
	if nslots > 0 {
		for i, oid := range orders {
			if i >= nslots/2 {
				break
			}
			h := int((oid * 0x9E3779B97F4A7C15) >> 33 % uint64(nslots))
			for le.Uint64(index[h*indexSlot:]) != 0 {
				h = (h + 1) % nslots
			}
			le.PutUint64(index[h*indexSlot:], oid)
			le.PutUint32(index[h*indexSlot+8:], uint32(i))
		}
	}
	le.PutUint32(b[24:], freeHead)
}
