package hostcheck

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseMountinfo: any mountinfo text parses without panicking, and
// every mount kept has a mount point and a filesystem type.
func FuzzParseMountinfo(f *testing.F) {
	for _, tree := range []string{"baremetal", "untuned"} {
		if b, err := os.ReadFile("testdata/" + tree + "/proc/self/mountinfo"); err == nil {
			f.Add(string(b))
		}
	}
	f.Add(`36 35 98:0 /mnt1 /mnt/a\040b rw,noatime master:1 - ext3 /dev/root rw,errors=continue`)
	f.Add(`1 2 3:4 / /x\ rw - - - -`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, m := range parseMountinfo(s) {
			if m.point == "" && !strings.Contains(s, " - ") {
				t.Fatalf("mount without separator kept: %+v", m)
			}
			_ = m.options()
		}
	})
}
