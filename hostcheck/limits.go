package hostcheck

import (
	"fmt"
	"math"
	"strconv"

	"golang.org/x/sys/unix"
)

const (
	whyMemlock = "--mlock locks the arena and the Go heap in RAM (mlockall) so no page is ever swapped out or reclaimed. " +
		"The kernel allows it only up to RLIMIT_MEMLOCK unless the process holds CAP_IPC_LOCK."
	whyCore = "A crash of the node with core dumps on writes the whole arena (GiB) to core_pattern's target, which can " +
		"take minutes and fill the disk holding the log. The snapshot child sets its own limit to 0 either way."
	whyParanoid = "perf record and the benchmarks' hardware counters use perf_event_open: at 2 a user may profile its own " +
		"processes in user space; at 3 or more (a Debian patch) only root or CAP_PERFMON may."
	whyCounters = "The benchmarks report cycles, instructions, cache misses and branch misses per operation when the " +
		"CPU exposes its performance counters; without them those columns say why instead."
)

const rlimInfinity = math.MaxUint64

func limitText(v uint64) string {
	if v == rlimInfinity {
		return "unlimited"
	}
	return bytesString(v)
}

func (h *host) memlock() Check {
	const id, title = "rlimit_memlock", "RLIMIT_MEMLOCK"
	v, err := h.o.sys.rlimit(unix.RLIMIT_MEMLOCK)
	if err != nil {
		return unknown(id, title, whyMemlock, fmt.Errorf("getrlimit: %w", err))
	}
	c := Check{ID: id, Title: title, Value: limitText(v), Why: whyMemlock, Status: OK}
	switch {
	case v == rlimInfinity:
	case h.o.sys.capIPCLock():
		c.Value += " (CAP_IPC_LOCK held: no limit applies)"
	default:
		c.Status = Warn
		c.Value += ": --mlock will be refused"
		c.Advice = "LimitMEMLOCK=infinity in the systemd unit, or `ulimit -l unlimited` before starting cowbook"
	}
	return c
}

func (h *host) core() Check {
	const id, title = "rlimit_core", "RLIMIT_CORE"
	v, err := h.o.sys.rlimit(unix.RLIMIT_CORE)
	if err != nil {
		return unknown(id, title, whyCore, fmt.Errorf("getrlimit: %w", err))
	}
	c := Check{ID: id, Title: title, Why: whyCore}
	if v == 0 {
		c.Status, c.Value = OK, "0 (no core files)"
		return c
	}
	c.Status = Info
	c.Value = limitText(v)
	if p, err := h.read("/proc/sys/kernel/core_pattern"); err == nil {
		c.Value += "; kernel.core_pattern " + strconv.Quote(p)
	}
	c.Advice = "LimitCORE=0 unless you want cores of the node; if you do, point core_pattern at a disk other than the log's with room for the arena"
	return c
}

func (h *host) perfParanoid() Check {
	const id, title = "perf_event_paranoid", "kernel.perf_event_paranoid"
	s, err := h.read("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		return unknown(id, title, whyParanoid, err)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return Check{ID: id, Title: title, Status: Unknown, Value: "unrecognised: " + s, Why: whyParanoid}
	}
	c := Check{ID: id, Title: title, Value: s, Why: whyParanoid, Status: OK}
	switch {
	case n <= 1:
		c.Value += " (user and kernel profiling allowed)"
	case n == 2:
		c.Value += " (user-space profiling of own processes allowed)"
	default:
		c.Status = Warn
		c.Value += " (only root or CAP_PERFMON may profile)"
		c.Advice = "sysctl kernel.perf_event_paranoid=2 (or 1 to see kernel frames in perf record -g)"
	}
	return c
}

func (h *host) hwCounters() Check {
	const id, title = "hw_counters", "Hardware counters"
	ok, reason := h.o.sys.counters()
	if ok {
		return Check{ID: id, Title: title, Status: OK, Value: "cycles, instructions, cache and branch misses available", Why: whyCounters}
	}
	return Check{ID: id, Title: title, Status: Info, Value: "unavailable: " + reason, Why: whyCounters}
}
