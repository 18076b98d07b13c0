package cow

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const pkgSym = "github.com/cowbook/cowbook/cow."

// childLeaves are the only functions the child may reach besides the
// package's own child path: the raw syscall stub and the assembly it calls,
// and memmove (a copy of a fixed-size value may compile to one).
var childLeaves = map[string]bool{
	"syscall.RawSyscall6":                     true,
	"internal/runtime/syscall/linux.Syscall6": true,
	"runtime.memmove":                         true,
}

// parentOnly are called by forkStream before the clone or after it returns
// in the parent; the child leaves forkStream for streamChild, which never
// returns (checked below: it has no RET).
var parentOnly = map[string]bool{
	"syscall.runtime_BeforeFork": true,
	"syscall.runtime_AfterFork":  true,
}

var (
	callRe = regexp.MustCompile(`\b(CALL|JMP)\s+([^\s]+)\(SB\)`)
	// A function with a stack check compares SP with g.stackguard0
	// (0x10(R14) on amd64) and calls morestack; nosplit ones do not.
	stackCheckRe = regexp.MustCompile(`CMPQ\s+0x10\(R14\), SP|CMPQ\s+SP, 0x10\(R14\)|morestack`)
)

// TestChildPathIsSyscallOnly disassembles the running test binary and
// walks every call reachable from the child's side of the fork. //go:nosplit
// does not propagate to callees, so only the machine code can prove that
// the child never enters the runtime (morestack, the allocator, write
// barriers, the race detector, a panic).
func TestChildPathIsSyscallOnly(t *testing.T) {
	exe := testExe(t)
	v := childPathViolations(t, exe, pkgSym+"forkStream")
	for _, s := range v {
		t.Error(s)
	}
	for _, fn := range []string{"streamChild", "childExit"} {
		body, ok := disasmOpt(t, exe, pkgSym+fn)
		if ok && strings.Contains(body, "\tRET") {
			t.Errorf("%s can return (into forkStream, in the child):\n%s", fn, body)
		}
	}
}

// TestChildPathCheckerSeesViolations is the checker's negative control: a
// function that allocates and formats must be caught.
func TestChildPathCheckerSeesViolations(t *testing.T) {
	if badChild(3) == "" {
		t.Fatal("unreachable")
	}
	v := childPathViolations(t, testExe(t), pkgSym+"badChild")
	if len(v) == 0 {
		t.Fatal("a child path calling fmt.Sprint passed the check: the check is blind")
	}
}

//go:noinline
func badChild(n int) string { return fmt.Sprint(make([]int, n)) }

var (
	testExeOnce sync.Once
	testExePath string
	testExeDir  string
	testExeErr  error
)

// testExe builds this package's test binary with symbols (the one `go
// test` runs is stripped), with -race when the running tests use it.
func testExe(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	testExeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cow-objdump")
		if err != nil {
			testExeErr = err
			return
		}
		testExeDir = dir // removed by TestMain
		testExePath = filepath.Join(dir, "cow.test")
		args := []string{"test", "-c", "-o", testExePath}
		if raceEnabled {
			args = append(args, "-race")
		}
		if b, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
			testExeErr = fmt.Errorf("go %v: %v\n%s", args, err, b)
		}
	})
	if testExeErr != nil {
		t.Fatal(testExeErr)
	}
	return testExePath
}

// childPathViolations lists every call from root's transitive callees that
// is neither the package's own child path nor an allowed leaf, and every
// function on the path that has a stack-growth check.
func childPathViolations(t *testing.T, exe, root string) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	queue := []string{root}
	for len(queue) > 0 {
		fn := queue[0]
		queue = queue[1:]
		if seen[fn] {
			continue
		}
		seen[fn] = true
		body := disasm(t, exe, fn)
		if stackCheckRe.MatchString(body) {
			out = append(out, fmt.Sprintf("%s has a stack-growth check (not nosplit)", fn))
		}
		for _, m := range callRe.FindAllStringSubmatch(body, -1) {
			callee := m[2]
			switch {
			case fn == pkgSym+"forkStream" && parentOnly[callee]:
			case childLeaves[callee]:
				queue = append(queue, callee) // leaves must be clean too
			case strings.HasPrefix(callee, pkgSym) && root != pkgSym+"badChild":
				queue = append(queue, callee)
			default:
				out = append(out, fmt.Sprintf("%s: %s %s", fn, m[1], callee))
			}
		}
	}
	return out
}

func disasm(t *testing.T, exe, sym string) string {
	t.Helper()
	body, ok := disasmOpt(t, exe, sym)
	if !ok {
		t.Fatalf("objdump found no %s in %s (inlined or renamed?)", sym, exe)
	}
	return body
}

// disasmOpt disassembles sym, reporting false if the binary has no such
// symbol (it was inlined everywhere).
func disasmOpt(t *testing.T, exe, sym string) (string, bool) {
	t.Helper()
	cmd := exec.Command("go", "tool", "objdump", "-s", "^"+regexp.QuoteMeta(sym)+"$", exe)
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("objdump %s: %v\n%s", sym, err, b)
	}
	return string(b), strings.Contains(string(b), "TEXT "+sym+"(SB)")
}
