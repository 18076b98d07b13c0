package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"path/filepath"
	"sync"
	"time"

	"github.com/cowbook/cowbook/client"
	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/gateway/wire"
	"github.com/cowbook/cowbook/internal/vfs"
	"github.com/cowbook/cowbook/walfile"
)

// ackRecord is one outcome a client was given: the oracle's evidence.
type ackRecord struct {
	cid, reqID uint64
	out        gateway.Outcome
}

// oracle records every outcome clients received, independently of the node.
type oracle struct {
	mu    sync.Mutex
	acked []ackRecord
}

func (o *oracle) add(cid uint64, r client.Result) {
	if r.Err != nil || r.Seq == 0 {
		return // not sequenced: nothing promised
	}
	o.mu.Lock()
	o.acked = append(o.acked, ackRecord{cid: cid, reqID: r.ReqID, out: gateway.Outcome{Seq: r.Seq, Reason: r.Reason}})
	o.mu.Unlock()
}

// checkAcked checks that the node remembers every acknowledged request with
// its original sequence and outcome.
func checkAcked(n *Node, acked []ackRecord) error {
	var bad error
	err := n.Query(context.Background(), func(e *engine.Engine, d *gateway.Dedupe) {
		for _, a := range acked {
			if a.out.Seq > e.LastSeq() {
				bad = fmt.Errorf("acked seq %d (client %d request %d) lost: node recovered only to seq %d", a.out.Seq, a.cid, a.reqID, e.LastSeq())
				return
			}
			v, o := d.Lookup(a.cid, a.reqID)
			if v == gateway.VerdictTooOld && a.reqID+uint64(d.Window()) <= d.Last(a.cid) {
				continue // beyond the remembered window, as the protocol allows
			}
			if v != gateway.VerdictDone || o != a.out {
				bad = fmt.Errorf("client %d request %d acked as %+v, node remembers verdict %d %+v", a.cid, a.reqID, a.out, v, o)
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return bad
}

// checkFullReplay replays the whole log of dir (it must start at seq 1)
// into a fresh engine and checks: sequences contiguous from 1, no request
// executed twice, every acked request at its sequence with its outcome,
// and the final state hash equal to want.
func checkFullReplay(fs vfs.FS, dir string, acked []ackRecord, want uint64) error {
	man, err := readManifest(fs, dir)
	if err != nil || man == nil {
		return fmt.Errorf("manifest: %v", err)
	}
	cfg, err := man.engineConfig()
	if err != nil {
		return err
	}
	e, err := engine.New(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	dmem, omem := man.auxParts(e.Aux())
	d, err := gateway.InitDedupe(dmem, man.DedupeClients, man.DedupeWindow)
	if err != nil {
		return err
	}
	ot, err := initOwners(omem, man.MaxOrders)
	if err != nil {
		return err
	}
	r, err := walfile.NewReader(filepath.Join(dir, "wal"), walfile.Options{FS: fs}, 0)
	if err != nil {
		return err
	}
	defer r.Close()
	type key struct{ cid, req uint64 }
	seen := map[key]uint64{}
	bySeq := map[uint64]ackRecord{}
	var events []engine.Event
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if rec.Seq != e.LastSeq()+1 {
			return fmt.Errorf("log not contiguous: seq %d after %d", rec.Seq, e.LastSeq())
		}
		cmd, cid, req, err := decodeRecord(rec.Type, rec.Payload)
		if err != nil {
			return err
		}
		if events, err = e.Apply(rec.Seq, &cmd, events[:0]); err != nil {
			return err
		}
		ot.track(cid, events)
		out := gateway.Outcome{Seq: rec.Seq}
		if len(events) > 0 && events[0].Kind == engine.EvRejected {
			out.Reason = wireReason(events[0].Reason)
		}
		if cid != 0 {
			if prev, dup := seen[key{cid, req}]; dup {
				return fmt.Errorf("client %d request %d executed twice: seq %d and %d", cid, req, prev, rec.Seq)
			}
			seen[key{cid, req}] = rec.Seq
			if err := d.Record(cid, req, out); err != nil {
				return err
			}
			bySeq[rec.Seq] = ackRecord{cid: cid, reqID: req, out: out}
		}
	}
	for _, a := range acked {
		got, ok := bySeq[a.out.Seq]
		if !ok || got != a {
			return fmt.Errorf("acked %+v, log replay gives %+v (present %v)", a, got, ok)
		}
	}
	if got := e.Checksum(); got != want {
		return fmt.Errorf("state hash %x, full replay of the log gives %x", want, got)
	}
	return nil
}

// driveLoad runs clients against addr until stop closes, with random
// orders, cancels, replaces and invalid orders, recording every outcome in
// o. Client ids are cidBase+1..cidBase+clients.
func driveLoad(addr string, cidBase uint64, clients int, seed int64, o *oracle, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for k := 0; k < clients; k++ {
		wg.Add(1)
		go func(cid uint64, rng *rand.Rand) {
			defer wg.Done()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				<-stop
				cancel()
			}()
			c, err := client.Dial(ctx, addr, client.Options{ClientID: cid, MaxOutstanding: 16})
			if err != nil {
				return
			}
			defer c.Close()
			done := make(chan client.Result, 32)
			inflight := 0
			var live []uint64
			next := cid << 32
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := randomRequest(rng, &next, live)
				if req.Kind == wire.TypeNewOrder {
					live = append(live, req.OrderID)
				}
				if _, err := c.Submit(ctx, req, done); err != nil {
					return
				}
				inflight++
				for inflight >= 8 || (inflight > 0 && rng.Intn(4) == 0) {
					select {
					case r := <-done:
						inflight--
						o.add(cid, r)
					case <-stop:
						return
					case <-time.After(5 * time.Second):
						return
					}
				}
			}
		}(cidBase+uint64(k)+1, rand.New(rand.NewSource(seed+int64(k))))
	}
	return &wg
}

func randomRequest(rng *rand.Rand, next *uint64, live []uint64) client.Request {
	syms := []string{"AAA", "BBB"}
	s := rng.Intn(2)
	price := func() int64 {
		if s == 0 {
			return 100 + rng.Int63n(101)
		}
		return 1000 + 5*rng.Int63n(101)
	}
	side := wire.Side(1 + rng.Intn(2))
	switch p := rng.Intn(20); {
	case p < 3 && len(live) > 0:
		return client.Request{Kind: wire.TypeCancel, Symbol: sym(syms[s]), OrderID: live[rng.Intn(len(live))]}
	case p < 5 && len(live) > 0:
		return client.Request{Kind: wire.TypeReplace, Symbol: sym(syms[s]), OrderID: live[rng.Intn(len(live))], Price: price(), Qty: 1 + rng.Int63n(20)}
	case p < 6:
		*next++
		return limit(syms[s], *next, side, 99999, 5) // out of band: engine reject
	default:
		*next++
		r := limit(syms[s], *next, side, price(), 1+rng.Int63n(20))
		if rng.Intn(5) == 0 {
			r.TIF = wire.IOC
		}
		return r
	}
}

var errNoProgress = errors.New("no command was acknowledged")
