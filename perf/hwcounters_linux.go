package perf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// counterEvent is one perf event of the group.
type counterEvent struct {
	name   string
	typ    uint32
	config uint64
}

// hardwareEvents are the four counters of CounterResult, in its order;
// cycles leads the group, so the group is scheduled on the PMU as a whole
// and the ratios between them are consistent.
var hardwareEvents = []counterEvent{
	{"cycles", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CPU_CYCLES},
	{"instructions", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_INSTRUCTIONS},
	{"cache-misses", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_CACHE_MISSES},
	{"branch-misses", unix.PERF_TYPE_HARDWARE, unix.PERF_COUNT_HW_BRANCH_MISSES},
}

// Counters is a running group of hardware counters on one OS thread.
type Counters struct {
	events []counterEvent
	fds    []int
	done   bool
	result CounterResult
	values []uint64 // raw values in event order, for tests of other events
}

// StartCounters locks the calling goroutine to its OS thread and starts
// counting cycles, instructions, cache misses and branch misses on it.
// Call Stop from the same goroutine, around single-threaded work such as
// the engine's apply loop.
//
// The returned *Counters is never nil. When the counters are not
// available, the error wraps ErrCountersUnsupported and Stop returns a
// result with Supported false and the same reason, so a benchmark can
// ignore the error and still report why it has no figures.
func StartCounters() (*Counters, error) { return startCounters(hardwareEvents) }

func startCounters(events []counterEvent) (*Counters, error) {
	c := &Counters{events: events}
	runtime.LockOSThread()
	leader := -1
	for i, ev := range events {
		attr := unix.PerfEventAttr{
			Type:        ev.typ,
			Config:      ev.config,
			Size:        uint32(unsafe.Sizeof(unix.PerfEventAttr{})),
			Read_format: unix.PERF_FORMAT_GROUP | unix.PERF_FORMAT_TOTAL_TIME_ENABLED | unix.PERF_FORMAT_TOTAL_TIME_RUNNING,
			Bits:        unix.PerfBitExcludeKernel | unix.PerfBitExcludeHv,
		}
		if i == 0 {
			attr.Bits |= unix.PerfBitDisabled
		}
		fd, err := unix.PerfEventOpen(&attr, 0, -1, leader, unix.PERF_FLAG_FD_CLOEXEC)
		if err != nil {
			return c.fail(explainOpenError(ev.name, err))
		}
		if i == 0 {
			leader = fd
		}
		c.fds = append(c.fds, fd)
	}
	if err := unix.IoctlSetInt(leader, unix.PERF_EVENT_IOC_RESET, unix.PERF_IOC_FLAG_GROUP); err != nil {
		return c.fail("resetting the counters: " + err.Error())
	}
	if err := unix.IoctlSetInt(leader, unix.PERF_EVENT_IOC_ENABLE, unix.PERF_IOC_FLAG_GROUP); err != nil {
		return c.fail("enabling the counters: " + err.Error())
	}
	return c, nil
}

func (c *Counters) fail(reason string) (*Counters, error) {
	c.close()
	c.done = true
	c.result = CounterResult{Reason: reason}
	return c, fmt.Errorf("%w: %s", ErrCountersUnsupported, reason)
}

func (c *Counters) close() {
	for _, fd := range c.fds {
		_ = unix.Close(fd)
	}
	c.fds = nil
	runtime.UnlockOSThread()
}

// Stop stops counting, releases the thread and returns the counts.
// Calling it again returns the same result.
func (c *Counters) Stop() CounterResult {
	if c.done {
		return c.result
	}
	c.done = true
	leader := c.fds[0]
	_ = unix.IoctlSetInt(leader, unix.PERF_EVENT_IOC_DISABLE, unix.PERF_IOC_FLAG_GROUP)
	// Group read format: nr, time_enabled, time_running, value[nr].
	count := len(c.fds)
	buf := make([]byte, 8*(3+count))
	n, err := unix.Read(leader, buf)
	c.close()
	if err != nil || n != len(buf) {
		c.result = CounterResult{Reason: fmt.Sprintf("reading the counters: %d of %d bytes: %v", n, len(buf), err)}
		return c.result
	}
	word := func(i int) uint64 { return binary.NativeEndian.Uint64(buf[8*i:]) }
	nr, enabled, running := word(0), word(1), word(2)
	if int(nr) != count {
		c.result = CounterResult{Reason: fmt.Sprintf("the kernel returned %d counters, want %d", nr, count)}
		return c.result
	}
	if running == 0 {
		c.result = CounterResult{Reason: "the counters were never scheduled on the PMU: another perf session or the NMI watchdog (kernel.nmi_watchdog) holds the hardware counters"}
		return c.result
	}
	c.values = make([]uint64, nr)
	for i := range c.values {
		v := word(3 + i)
		if running < enabled {
			v = uint64(float64(v) * float64(enabled) / float64(running))
		}
		c.values[i] = v
	}
	c.result = CounterResult{Supported: true, TimeEnabledNs: enabled, TimeRunningNs: running}
	for i, ev := range c.events {
		switch ev.name {
		case "cycles":
			c.result.Cycles = c.values[i]
		case "instructions":
			c.result.Instructions = c.values[i]
		case "cache-misses":
			c.result.CacheMisses = c.values[i]
		case "branch-misses":
			c.result.BranchMisses = c.values[i]
		}
	}
	return c.result
}

// explainOpenError turns a perf_event_open errno into what to do about it.
func explainOpenError(event string, err error) string {
	what := "perf_event_open: " + err.Error()
	var errno unix.Errno
	if errors.As(err, &errno) && unix.ErrnoName(errno) != "" {
		what = "perf_event_open returned " + unix.ErrnoName(errno)
	}
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Sprintf("%s: %s: this CPU or hypervisor exposes no hardware performance counters (in a VM, enable a virtual PMU, e.g. KVM's -cpu host,pmu=on; most cloud instances smaller than a whole host have none)", event, what)
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		return fmt.Sprintf("%s: %s: kernel.perf_event_paranoid is %s; set it to 2 or lower (sysctl kernel.perf_event_paranoid=2) or grant CAP_PERFMON", event, what, paranoid())
	case errors.Is(err, unix.ENOSYS):
		return fmt.Sprintf("%s: %s: the kernel is built without perf events (CONFIG_PERF_EVENTS)", event, what)
	case errors.Is(err, unix.EMFILE):
		return fmt.Sprintf("%s: %s: out of file descriptors", event, what)
	}
	return fmt.Sprintf("%s: %s", event, what)
}

func paranoid() string {
	b, err := os.ReadFile("/proc/sys/kernel/perf_event_paranoid")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
