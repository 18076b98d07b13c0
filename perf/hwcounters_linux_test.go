package perf

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

//go:noinline
func busyLoop(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x = x*31 + i
	}
	return x
}

func TestHardwareCounters(t *testing.T) {
	const iters = 10_000_000
	c, err := StartCounters()
	sink := busyLoop(iters)
	r := c.Stop()
	_ = sink
	if err != nil {
		// Unsupported here: the result must say so, never zeros.
		if !errors.Is(err, ErrCountersUnsupported) || r.Supported || r.Reason == "" {
			t.Fatalf("err %v, result %+v: want ErrCountersUnsupported with a reason", err, r)
		}
		b, _ := json.Marshal(r)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 2 || m["supported"] != false || m["reason"] != r.Reason {
			t.Errorf("unsupported result as JSON: %s", b)
		}
		p := r.PerOp(iters)
		if p.Supported || p.Reason != r.Reason {
			t.Errorf("per-op of unsupported = %+v", p)
		}
		t.Logf("unsupported here (the supported path is exercised with software events): %s", r.Reason)
		return
	}
	if !r.Supported {
		t.Fatalf("no error but unsupported: %s", r.Reason)
	}
	// The loop runs at least 3 instructions per iteration.
	if r.Instructions < 3*iters || r.Cycles == 0 {
		t.Fatalf("busy loop of %d iterations: %+v", iters, r)
	}
	p := r.PerOp(iters)
	if !p.Supported || p.InstructionsPerOp < 3 || p.InstructionsPerOp > 1000 || p.IPC <= 0 {
		t.Fatalf("per op %+v", p)
	}
	if again := c.Stop(); again != r {
		t.Errorf("second Stop %+v != %+v", again, r)
	}
}

// The group machinery (open, enable, group read, scaling) with software
// events, which every kernel with perf events supports, VMs included.
func TestCounterGroupWithSoftwareEvents(t *testing.T) {
	events := []counterEvent{
		{"task-clock", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK},
		{"page-faults", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_PAGE_FAULTS},
	}
	c, err := startCounters(events)
	if err != nil {
		t.Skip("software perf events unavailable:", err)
	}
	_ = busyLoop(5_000_000)
	mem, err := unix.Mmap(-1, 0, 256*4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	_ = unix.Madvise(mem, unix.MADV_NOHUGEPAGE)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	r := c.Stop()
	_ = unix.Munmap(mem)
	if !r.Supported {
		t.Fatal(r.Reason)
	}
	if r.TimeRunningNs == 0 || r.TimeEnabledNs < r.TimeRunningNs {
		t.Errorf("times %+v", r)
	}
	if c.values[0] < 1_000_000 { // ≥ 1 ms of CPU for 5M iterations
		t.Errorf("task-clock %d ns for a busy loop", c.values[0])
	}
	if c.values[1] < 256 {
		t.Errorf("page faults %d after touching 256 fresh pages", c.values[1])
	}
}

func TestCountersReportAnUnknownEvent(t *testing.T) {
	c, err := startCounters([]counterEvent{{"bogus", unix.PERF_TYPE_HARDWARE, 0xfffff}})
	if !errors.Is(err, ErrCountersUnsupported) {
		t.Fatalf("err = %v", err)
	}
	r := c.Stop()
	if r.Supported || !strings.HasPrefix(r.Reason, "bogus: ") {
		t.Fatalf("result %+v", r)
	}
}

func TestPerOp(t *testing.T) {
	r := CounterResult{Supported: true, Cycles: 2000, Instructions: 5000, CacheMisses: 10, BranchMisses: 20}
	p := r.PerOp(100)
	if p.CyclesPerOp != 20 || p.InstructionsPerOp != 50 || p.CacheMissesPerOp != 0.1 || p.BranchMissesPerOp != 0.2 || p.IPC != 2.5 {
		t.Fatalf("%+v", p)
	}
	if z := r.PerOp(0); z.Supported || z.Reason == "" {
		t.Fatalf("PerOp(0) = %+v", z)
	}
	b, err := json.Marshal(p)
	if err != nil || !strings.Contains(string(b), `"ipc":2.5`) {
		t.Fatalf("%s %v", b, err)
	}
}

// A supported result end to end (fields, per-op, JSON), with software
// events standing in under the hardware names on machines without a PMU.
func TestSupportedResultWithStandInEvents(t *testing.T) {
	c, err := startCounters([]counterEvent{
		{"cycles", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK},
		{"instructions", unix.PERF_TYPE_SOFTWARE, unix.PERF_COUNT_SW_TASK_CLOCK},
	})
	if err != nil {
		t.Skip("software perf events unavailable:", err)
	}
	_ = busyLoop(2_000_000)
	r := c.Stop()
	if !r.Supported || r.Cycles == 0 || r.Instructions == 0 || r.CacheMisses != 0 {
		t.Fatalf("%+v", r)
	}
	b, err := json.Marshal(r.PerOp(1000))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil || m["supported"] != true || m["cycles_per_op"].(float64) <= 0 || m["ops"] != float64(1000) {
		t.Fatalf("%s", b)
	}
}
