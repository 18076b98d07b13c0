package perf

import (
	"fmt"
	"runtime/debug"

	"github.com/cowbook/cowbook/engine"
	"golang.org/x/sys/unix"
)

// stdStream is the standard workload (Generate with its defaults, seed 1,
// as `cowbook gen --seed 1` and `bench engine`) prepared for SnapBench's
// engine thread: encoded once, 48 bytes per command (engine.AppendBinary),
// into a shared anonymous mapping, then decoded one command per step.
//
// Why a shared mapping and not a slice of Commands: 2M commands are ≈ 100 MB,
// and resident private memory in 4 KiB pages is copied into every fork's
// page tables (≈ 0.3 µs a page, see idList); a shared mapping is neither
// copied at fork nor copy-on-write, so the fork pause and the copy-on-write
// cost stay the engine's. Decoding in the step allocates nothing.
//
// The stream is endless and stays valid: one pass is the generated
// workload without its symbol definitions (the symbol is defined once, in
// the engine's configuration) followed by cancels of every order the
// workload leaves resting, so the symbol's book is empty again at the end
// of each pass. Each pass shifts every order id by the ids one pass uses,
// so ids keep rising and are never reused; all of them sit above
// stdIDBase, far from the background book's ids. Because the symbol's book
// starts each pass empty, as in the generator's own engine, and the engine
// is deterministic, every pass trades, rests and cancels exactly as the
// generator saw it: a cancel or replace never misses its order, and
// stdStep checks that it does not.
type stdStream struct {
	mem     []byte
	n       int            // commands in one pass, drain included
	drain   int            // of which the final cancels
	span    engine.OrderID // order ids one pass uses
	peak    int            // most orders resting on the symbol during a pass
	pos     int
	pass    uint64
	release func()
}

// stdIDBase is added to every order id of the standard stream: the
// background book's ids count up from 1 and stay far below it.
const stdIDBase engine.OrderID = 1 << 40

// stdSymbol is the symbol of the standard workload (Generate's first).
var stdSymbol = GenSymbol(0)

// stdSymbolSpec defines stdSymbol as Generate does.
func stdSymbolSpec() engine.SymbolSpec {
	return engine.SymbolSpec{Symbol: stdSymbol, Tick: genTick, BandMin: genBandMin, BandMax: genBandMax}
}

// newStdStream generates the workload of opts (one symbol) into a shared
// mapping, tracking its book with an engine of its own to find the orders
// left resting at the end.
func newStdStream(opts GenOptions) (*stdStream, error) {
	opts.EnsureDefaults()
	opts.Symbols = 1
	cfg := GenConfig(1)
	// A pass never holds more orders than the generator's own engine can,
	// so its drain is at most cfg.MaxOrders cancels.
	size := (opts.Ops + cfg.MaxOrders) * engine.CommandSize
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, fmt.Errorf("perf: mmap standard stream: %w", err)
	}
	s := &stdStream{mem: mem, release: func() { unix.Munmap(mem) }}
	mirror, err := engine.New(cfg)
	if err != nil {
		s.close()
		return nil, err
	}
	defer mirror.Close()
	var (
		seq uint64
		out []engine.Event
		buf = make([]byte, 0, engine.CommandSize)
	)
	put := func(c *engine.Command) error {
		seq++
		if out, err = mirror.Apply(seq, c, out[:0]); err != nil {
			return err
		}
		if c.Kind == engine.CmdDefineSymbol {
			return nil // defined in the engine's configuration instead
		}
		if c.ID >= stdIDBase {
			return fmt.Errorf("perf: standard stream order id %d out of range", c.ID)
		}
		s.span = max(s.span, c.ID+1)
		buf = c.AppendBinary(buf[:0])
		copy(s.mem[s.n*engine.CommandSize:], buf)
		s.n++
		if s.n%1024 == 0 {
			s.peak = max(s.peak, mirror.Stats().RestingOrders)
		}
		return nil
	}
	if err := Generate(opts, put); err != nil {
		s.close()
		return nil, fmt.Errorf("perf: generating the standard stream: %w", err)
	}
	if s.n == 0 {
		s.close()
		return nil, fmt.Errorf("perf: a standard stream of %d commands holds no order commands", opts.Ops)
	}
	s.peak = max(s.peak, mirror.Stats().RestingOrders)
	for _, side := range []engine.Side{engine.Buy, engine.Sell} {
		for _, o := range mirror.Orders(stdSymbol, side) {
			c := engine.Command{Kind: engine.CmdCancel, Symbol: stdSymbol, ID: o.ID}
			if err := put(&c); err != nil {
				s.close()
				return nil, err
			}
			s.drain++
		}
	}
	if st := mirror.Stats(); st.RestingOrders != 0 {
		s.close()
		return nil, fmt.Errorf("perf: standard stream leaves %d orders resting after its drain", st.RestingOrders)
	}
	// The generator's bookkeeping is garbage now: give it back to the
	// system so that the resident Go heap does not slow every fork.
	debug.FreeOSMemory()
	return s, nil
}

func (s *stdStream) close() {
	if s.release != nil {
		s.release()
		s.release, s.mem = nil, nil
	}
}

// next decodes the next command of the stream into c.
func (s *stdStream) next(c *engine.Command) error {
	if s.pos == s.n {
		s.pos = 0
		s.pass++
	}
	off := s.pos * engine.CommandSize
	d, err := engine.DecodeCommand(s.mem[off : off+engine.CommandSize])
	if err != nil {
		return fmt.Errorf("perf: standard stream command %d: %w", s.pos, err)
	}
	d.ID += stdIDBase + engine.OrderID(s.pass)*s.span
	*c = d
	s.pos++
	return nil
}
