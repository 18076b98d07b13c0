package hostcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const (
	whyGovernor = "A governor other than \"performance\" lowers the clock when a CPU looks idle; the engine thread " +
		"waiting for the next order looks idle, so the order after a pause runs at a low clock and pays the ramp-up (tens of µs)."
	whyIsolation = "On a shared CPU the engine thread is preempted by other tasks, the scheduler tick, RCU callbacks and " +
		"interrupts: each costs µs to ms at the tail. An isolated CPU (isolcpus/nohz_full/rcu_nocbs, IRQs moved away) " +
		"runs only what is pinned to it, which is what --engine-cpu is for."
	whyNUMA = "Memory on another NUMA node costs about 1.5–2× the latency of local memory. The engine thread, its arena and " +
		"the log writer belong on one node."
	whyClock = "Latency figures, group-commit deadlines and the histograms read the clock around every operation. " +
		"tsc (and paravirtual kvm-clock) is read in user space through the vDSO in ≈ 20 ns; hpet or acpi_pm turn each " +
		"read into a slow device access or a syscall of ≈ 0.5–1 µs."
)

func (h *host) governor() Check {
	const id, title = "cpu_governor", "CPU frequency governor"
	files, _ := filepath.Glob(h.path("/sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor"))
	if len(files) == 0 {
		return Check{ID: id, Title: title, Status: Unknown, Why: whyGovernor,
			Value: "no cpufreq interface under /sys/devices/system/cpu/cpu*/cpufreq (a virtual machine, or no cpufreq driver): the frequency is set by firmware or the hypervisor"}
	}
	count := map[string]int{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			count["unreadable"]++
			continue
		}
		count[strings.TrimSpace(string(b))]++
	}
	var parts []string
	for g, n := range count {
		parts = append(parts, fmt.Sprintf("%s on %d CPU%s", g, n, plural(n)))
	}
	sort.Strings(parts)
	c := Check{ID: id, Title: title, Value: strings.Join(parts, ", "), Why: whyGovernor, Status: OK}
	if len(count) != 1 || count["performance"] == 0 {
		c.Status = Warn
		c.Advice = "cpupower frequency-set -g performance (or echo performance > /sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)"
	}
	return c
}

func (h *host) isolation() Check {
	const id, title = "cpu_isolation", "Isolated CPUs / nohz_full"
	c := Check{ID: id, Title: title, Why: whyIsolation}
	isolated, errI := h.read("/sys/devices/system/cpu/isolated")
	nohz, errN := h.read("/sys/devices/system/cpu/nohz_full")
	cmdline, errC := h.read("/proc/cmdline")
	if errI != nil && errN != nil && errC != nil {
		return unknown(id, title, whyIsolation, errI)
	}
	var parts []string
	switch {
	case errI != nil:
		parts = append(parts, "isolated: unreadable")
	case isolated == "":
		parts = append(parts, "isolated: none")
	default:
		parts = append(parts, "isolated: "+isolated)
	}
	switch {
	case errN != nil:
		parts = append(parts, "nohz_full: not built in")
	case nohz == "" || nohz == "(null)":
		parts = append(parts, "nohz_full: none")
	default:
		parts = append(parts, "nohz_full: "+nohz)
	}
	var params []string
	for _, f := range strings.Fields(cmdline) {
		if f == "--" {
			break // the rest belongs to init
		}
		for _, p := range []string{"isolcpus=", "nohz_full=", "rcu_nocbs=", "irqaffinity="} {
			if strings.HasPrefix(f, p) {
				params = append(params, f)
			}
		}
	}
	if len(params) > 0 {
		parts = append(parts, "cmdline: "+strings.Join(params, " "))
	}
	c.Value = strings.Join(parts, "; ")
	cpus := isolated
	if cpus == "" && errN == nil && nohz != "(null)" {
		cpus = nohz
	}
	if cpus == "" {
		c.Status = Warn
		n := cpuCount(h)
		last := "N"
		if n > 1 {
			last = strconv.Itoa(n - 1)
		}
		c.Advice = fmt.Sprintf("on a dedicated box, reserve a CPU for the engine: isolcpus=managed_irq,domain,%[1]s nohz_full=%[1]s rcu_nocbs=%[1]s irqaffinity=0 on the kernel command line, then --engine-cpu %[1]s", last)
		return c
	}
	c.Status = OK
	c.Advice = "pin the engine to one of them: --engine-cpu " + strings.FieldsFunc(cpus, func(r rune) bool { return r == ',' || r == '-' })[0]
	return c
}

// cpuCount returns the number of online CPUs, 0 if unknown.
func cpuCount(h *host) int {
	s, err := h.read("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n, err := countList(s)
	if err != nil {
		return 0
	}
	return n
}

// countList counts the members of a kernel list such as "0-3,8".
func countList(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0, fmt.Errorf("bad list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, fmt.Errorf("bad list %q", s)
			}
		}
		n += b - a + 1
	}
	return n, nil
}

func (h *host) numa() Check {
	const id, title = "numa", "NUMA nodes"
	s, err := h.read("/sys/devices/system/node/online")
	if err != nil {
		return unknown(id, title, whyNUMA, err)
	}
	n, err := countList(s)
	if err != nil {
		return Check{ID: id, Title: title, Status: Unknown, Value: err.Error(), Why: whyNUMA}
	}
	c := Check{ID: id, Title: title, Why: whyNUMA}
	if n <= 1 {
		c.Status, c.Value = OK, fmt.Sprintf("1 node (%s): all memory is local", s)
		return c
	}
	c.Status = Warn
	var nodes []string
	for i := 0; i < 64; i++ {
		cpus, err := h.read(fmt.Sprintf("/sys/devices/system/node/node%d/cpulist", i))
		if err == nil {
			nodes = append(nodes, fmt.Sprintf("node%d: cpus %s", i, cpus))
		}
	}
	c.Value = fmt.Sprintf("%d nodes (%s)", n, strings.Join(nodes, "; "))
	if b, err := h.read("/proc/sys/kernel/numa_balancing"); err == nil && b != "0" {
		c.Value += "; automatic NUMA balancing on (it unmaps pages to sample accesses: extra faults on the engine thread)"
	}
	c.Advice = "run under numactl --cpunodebind=N --membind=N with --engine-cpu and --writer-cpu on CPUs of node N; sysctl kernel.numa_balancing=0"
	return c
}

func (h *host) clocksource() Check {
	const id, title = "clocksource", "Clock source"
	cur, err := h.read("/sys/devices/system/clocksource/clocksource0/current_clocksource")
	if err != nil {
		return unknown(id, title, whyClock, err)
	}
	c := Check{ID: id, Title: title, Value: cur, Why: whyClock}
	if avail, err := h.read("/sys/devices/system/clocksource/clocksource0/available_clocksource"); err == nil {
		c.Value += " (available: " + avail + ")"
	}
	switch cur {
	case "tsc", "kvm-clock", "hyperv_clocksource_tsc_page", "arch_sys_counter":
		c.Status = OK
	default:
		c.Status = Warn
		c.Advice = "if /proc/cpuinfo lists constant_tsc and nonstop_tsc: clocksource=tsc tsc=reliable on the kernel command line (or echo tsc > /sys/devices/system/clocksource/clocksource0/current_clocksource)"
	}
	return c
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
