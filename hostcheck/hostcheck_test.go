package hostcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeProber answers the syscall questions for a fake tree.
type fakeProber struct {
	limits       map[int]uint64
	capLock      bool
	major, minor uint32
	devErr       error
	mem, off     uint32
	dioOK        bool
	dioErr       error
	countersOK   bool
	reason       string
}

func (f fakeProber) rlimit(r int) (uint64, error) {
	v, ok := f.limits[r]
	if !ok {
		return 0, errors.New("no such limit")
	}
	return v, nil
}
func (f fakeProber) capIPCLock() bool                   { return f.capLock }
func (f fakeProber) dev(string) (uint32, uint32, error) { return f.major, f.minor, f.devErr }
func (f fakeProber) dioAlign(string) (uint32, uint32, bool, error) {
	return f.mem, f.off, f.dioOK, f.dioErr
}
func (f fakeProber) counters() (bool, string) { return f.countersOK, f.reason }

func run(t *testing.T, root, data string, p fakeProber) Report {
	t.Helper()
	r := Run(Options{Root: root, DataDir: data, sys: p})
	if len(r.Checks) != 15 {
		t.Fatalf("%d checks", len(r.Checks))
	}
	for _, c := range r.Checks {
		if c.ID == "" || c.Title == "" || c.Why == "" || c.Value == "" {
			t.Errorf("incomplete check %+v", c)
		}
		if c.Status == Warn && c.Advice == "" {
			t.Errorf("%s warns without advice", c.ID)
		}
		switch c.Status {
		case OK, Info, Warn, Unknown:
		default:
			t.Errorf("%s: status %q", c.ID, c.Status)
		}
	}
	return r
}

func expect(t *testing.T, r Report, id string, status Status, valueHas ...string) Check {
	t.Helper()
	c, ok := r.Find(id)
	if !ok {
		t.Fatalf("no check %s", id)
	}
	if c.Status != status {
		t.Errorf("%s: status %s, want %s (value %q)", id, c.Status, status, c.Value)
	}
	for _, s := range valueHas {
		if !strings.Contains(c.Value, s) {
			t.Errorf("%s: value %q lacks %q", id, c.Value, s)
		}
	}
	return c
}

func TestTunedBareMetal(t *testing.T) {
	r := run(t, "testdata/baremetal", "/srv/cowbook/data", fakeProber{
		limits: map[int]uint64{unix.RLIMIT_MEMLOCK: rlimInfinity, unix.RLIMIT_CORE: 0},
		major:  259, minor: 5,
		mem: 512, off: 512, dioOK: true,
		countersOK: true,
	})
	expect(t, r, "thp_enabled", OK, "always")
	expect(t, r, "thp_defrag", OK, "defer+madvise")
	expect(t, r, "overcommit", OK, "1")
	expect(t, r, "swap", OK, "none")
	expect(t, r, "cpu_governor", OK, "performance on 4 CPUs")
	c := expect(t, r, "cpu_isolation", OK, "isolated: 2-3", "nohz_full: 2-3", "rcu_nocbs=2-3")
	if !strings.Contains(c.Advice, "--engine-cpu 2") {
		t.Errorf("isolation advice %q", c.Advice)
	}
	expect(t, r, "numa", Warn, "2 nodes", "node0: cpus 0,2", "node1: cpus 1,3")
	expect(t, r, "clocksource", OK, "tsc")
	// /srv/cowbook is xfs on nvme1n1; "/srv/cowbook old" (escaped space) must not match.
	expect(t, r, "data_filesystem", OK, "xfs on /dev/nvme1n1 at /srv/cowbook", "noatime")
	expect(t, r, "write_cache", OK, "nvme1n1: write through", "FUA")
	expect(t, r, "direct_io", OK, "memory 512 B, offset 512 B")
	expect(t, r, "rlimit_memlock", OK, "unlimited")
	expect(t, r, "rlimit_core", OK, "0")
	expect(t, r, "perf_event_paranoid", OK, "1")
	expect(t, r, "hw_counters", OK)
	if r.Count(Unknown) != 0 {
		t.Errorf("%d unknown", r.Count(Unknown))
	}
}

func TestUntunedBox(t *testing.T) {
	r := run(t, "testdata/untuned", "/var/lib/cowbook", fakeProber{
		limits: map[int]uint64{unix.RLIMIT_MEMLOCK: 8 << 20, unix.RLIMIT_CORE: rlimInfinity},
		devErr: errors.New("stat failed"), // fall back to the longest prefix
		mem:    0, off: 0, dioOK: true,
		reason: "cycles: perf_event_open returned ENOENT",
	})
	expect(t, r, "thp_enabled", Warn, "never")
	expect(t, r, "thp_defrag", Warn, "always")
	expect(t, r, "overcommit", Warn, "2 (strict", "CommitLimit 7.8 GiB")
	expect(t, r, "swap", Warn, "6.0 GiB on /dev/zram0, /swapfile", "swappiness 60")
	expect(t, r, "cpu_governor", Warn, "powersave on 1 CPU", "schedutil on 1 CPU")
	c := expect(t, r, "cpu_isolation", Warn, "isolated: none", "nohz_full: not built in")
	if strings.Contains(c.Value, "isolcpus") {
		t.Errorf("took init's arguments after -- for the kernel's: %q", c.Value)
	}
	expect(t, r, "numa", OK, "1 node")
	expect(t, r, "clocksource", Warn, "hpet")
	c = expect(t, r, "data_filesystem", Warn, "ext4 on /dev/sda1", "nobarrier", "data=writeback", "discard")
	for _, a := range []string{"remove nobarrier", "data=ordered", "fstrim"} {
		if !strings.Contains(c.Advice, a) {
			t.Errorf("advice %q lacks %q", c.Advice, a)
		}
	}
	expect(t, r, "write_cache", Warn, "sda: write back", "rotational", "flushes are disabled by nobarrier")
	expect(t, r, "direct_io", Warn, "not supported")
	expect(t, r, "rlimit_memlock", Warn, "8.0 MiB", "refused")
	expect(t, r, "rlimit_core", Info, "unlimited")
	expect(t, r, "perf_event_paranoid", Warn, "4")
	expect(t, r, "hw_counters", Info, "ENOENT")
}

func TestTHPModes(t *testing.T) {
	for _, tc := range []struct {
		tree   string
		status Status
		value  string
	}{
		{"testdata/thp-always", OK, "always"},
		{"testdata/thp-madvise", OK, "madvise"},
		{"testdata/thp-never", Warn, "never"},
	} {
		r := run(t, tc.tree, "/nonexistent/data", fakeProber{})
		c := expect(t, r, "thp_enabled", tc.status, tc.value)
		if tc.status == Warn && !strings.Contains(c.Advice, "transparent_hugepage/enabled") {
			t.Errorf("%s: advice %q", tc.tree, c.Advice)
		}
		expect(t, r, "thp_defrag", OK, "madvise")
		// The rest of these trees is missing: unknown, never a failure.
		expect(t, r, "overcommit", Unknown, "no such file")
	}
}

func TestOvercommitModes(t *testing.T) {
	for _, tc := range []struct {
		tree   string
		status Status
		value  string
	}{
		{"testdata/overcommit-0", OK, "0 (heuristic)"},
		{"testdata/overcommit-1", OK, "1 (always allow)"},
		{"testdata/overcommit-2", Warn, "2 (strict accounting); CommitLimit 7.8 GiB, Committed_AS 4.9 GiB"},
	} {
		r := run(t, tc.tree, "/nonexistent/data", fakeProber{})
		expect(t, r, "overcommit", tc.status, tc.value)
		expect(t, r, "thp_enabled", Unknown, "no such file")
	}
}

func TestMissingEverything(t *testing.T) {
	r := run(t, t.TempDir(), "/nonexistent/data", fakeProber{
		devErr: errors.New("no"), dioErr: errors.New("statx: EIO"),
	})
	for _, c := range r.Checks {
		switch c.ID {
		case "rlimit_memlock", "rlimit_core", "direct_io", "cpu_governor", "cpu_isolation",
			"thp_enabled", "thp_defrag", "overcommit", "swap", "numa", "clocksource",
			"data_filesystem", "write_cache", "perf_event_paranoid":
			if c.Status != Unknown {
				t.Errorf("%s: %s %q, want unknown", c.ID, c.Status, c.Value)
			}
		}
	}
	if c, _ := r.Find("direct_io"); !strings.Contains(c.Value, "EIO") {
		t.Errorf("direct_io does not say why: %q", c.Value)
	}
	if c, _ := r.Find("swap"); !strings.Contains(c.Value, "proc/swaps") {
		t.Errorf("swap does not name the missing file: %q", c.Value)
	}
}

func TestReportOutputs(t *testing.T) {
	r := run(t, "testdata/untuned", "/var/lib/cowbook", fakeProber{})
	var text bytes.Buffer
	if err := r.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, s := range []string{"WARN    Transparent huge pages: never", "set: echo madvise", "ok, ", " warn, "} {
		if !strings.Contains(out, s) {
			t.Errorf("text lacks %q:\n%s", s, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > 110 && strings.Count(line, " ") > 3 {
			t.Errorf("line not folded: %q", line)
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil || len(back.Checks) != len(r.Checks) || back.Checks[0] != r.Checks[0] {
		t.Fatalf("JSON round trip: %v", err)
	}
}

func TestParseMountinfo(t *testing.T) {
	ms := parseMountinfo("36 35 98:0 /mnt1 /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"garbage\n" +
		"37 35 0:5 / /x rw - tmpfs\n")
	if len(ms) != 1 {
		t.Fatalf("%+v", ms)
	}
	m := ms[0]
	if m.major != 98 || m.minor != 0 || m.point != "/mnt/a b" || m.fstype != "ext3" || m.source != "/dev/root" || m.superOpts != "rw,errors=continue" {
		t.Errorf("%+v", m)
	}
}

func TestCountList(t *testing.T) {
	for s, want := range map[string]int{"": 0, "0": 1, "0-3": 4, "0-1,4,6-7": 5} {
		if n, err := countList(s); err != nil || n != want {
			t.Errorf("%q: %d %v", s, n, err)
		}
	}
	for _, s := range []string{"a", "3-1", "1-"} {
		if _, err := countList(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// The real host: it must run without failing and know the basics.
func TestThisHost(t *testing.T) {
	r := Run(Options{DataDir: t.TempDir()})
	for _, c := range r.Checks {
		t.Logf("%-8s %-22s %s", c.Status, c.ID, c.Value)
	}
	if c, _ := r.Find("data_filesystem"); c.Status == Unknown {
		t.Errorf("data filesystem unknown on this host: %s", c.Value)
	}
}
