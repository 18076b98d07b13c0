//go:build amd64 && !purego && linux

package walfile

import (
	"os"
	"strings"
	"testing"
)

// TestCPUPrefetchW checks the CPUID probe against the kernel's reading of
// the same bit (the "3dnowprefetch" flag).
func TestCPUPrefetchW(t *testing.T) {
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip(err)
	}
	var flags []string
	for _, line := range strings.Split(string(info), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "flags" {
			flags = strings.Fields(v)
			break
		}
	}
	if flags == nil {
		t.Skip("no flags line in /proc/cpuinfo")
	}
	want := false
	for _, f := range flags {
		want = want || f == "3dnowprefetch"
	}
	if got := cpuPrefetchW(); got != want {
		t.Fatalf("cpuPrefetchW() = %v; /proc/cpuinfo 3dnowprefetch: %v", got, want)
	}
}
