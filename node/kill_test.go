package node

import (
	"bufio"
	"context"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cowbook/cowbook/engine"
	"github.com/cowbook/cowbook/gateway"
	"github.com/cowbook/cowbook/internal/vfs"
)

// The kill -9 test re-executes this test binary as the node: with
// killChildEnv set, TestMain runs runKillChild instead of the tests.
const killChildEnv = "COWBOOK_NODE_KILL_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(killChildEnv); dir != "" {
		if err := runKillChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func killOptions(cycles int, retain bool) Options {
	opts := testOptions(vfs.OS)
	opts.Manifest.DedupeClients = 3*cycles + 8
	opts.RetainLog = retain
	opts.NoFinalSnapshot = true
	opts.SnapshotEvery = 150
	opts.Log.SegmentSize = 64 << 10
	return opts
}

// runKillChild serves a node on dir and prints its address, then waits to
// be killed.
func runKillChild(dir string) error {
	var cycles, retain int
	var point string
	fmt.Sscan(os.Getenv(killChildEnv+"_CYCLES"), &cycles, &retain, &point)
	opts := killOptions(cycles, retain == 1)
	if point != "-" {
		// Die at the k-th time the named point is reached.
		k := 1 + rand.Intn(40)
		if strings.HasPrefix(point, "snapshot") {
			k = 1 + rand.Intn(3)
		}
		hits := 0
		var mu sync.Mutex
		opts.Failpoint = func(p string) {
			if p != point {
				return
			}
			mu.Lock()
			hits++
			h := hits
			mu.Unlock()
			if h == k {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {}
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	opts.Listener = l
	n, err := Open(dir, opts)
	if err != nil {
		return err
	}
	fmt.Printf("READY %s\n", l.Addr())
	<-n.Done()
	return n.Err()
}

// TestKill9 runs the node in a child process under load from this process
// (the oracle), kills it with SIGKILL at a random instant, and checks after
// each kill, by recovering the directory here, that every outcome a client
// received is remembered with the same sequence and outcome, that the log
// is contiguous, that nothing ran twice and that the state hash equals a
// full replay. A kill leaves the page cache intact, so this tests the
// process-crash path (ordering of acks after writes, snapshot steps cut
// short); the crash model tests the fsyncs.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 cycles skipped in -short")
	}
	cycles := 50
	if *long {
		cycles = 300
	}
	runKill9(t, cycles, "-", true)
}

// TestKill9AtFailpoints makes the node kill itself at each named point of
// the pipeline and of snapshotting, with log truncation on so that the
// snapshot steps matter.
func TestKill9AtFailpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 cycles skipped in -short")
	}
	cycles := 6
	if *long {
		cycles = 50
	}
	for _, p := range []string{FailBeforeAppend, FailAfterAppend, FailWrittenNotSynced, FailBeforeAck, FailSnapshotCaptured, FailSnapshotWritten, FailSnapshotTruncate} {
		t.Run(p, func(t *testing.T) { runKill9(t, cycles, p, false) })
	}
}

func runKill9(t *testing.T, cycles int, point string, retain bool) {
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var acked []ackRecord
	total := 0
	for cycle := 0; cycle < cycles; cycle++ {
		cmd := exec.Command(exe, "-test.run=^$")
		r := 0
		if retain {
			r = 1
		}
		cmd.Env = append(os.Environ(), killChildEnv+"="+dir, fmt.Sprintf("%s_CYCLES=%d %d %s", killChildEnv, cycles, r, point))
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "READY ") {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("cycle %d: child did not start: %q %v", cycle, line, err)
		}
		addr := strings.TrimSpace(strings.TrimPrefix(line, "READY "))
		o := &oracle{acked: acked}
		stop := make(chan struct{})
		wg := driveLoad(addr, uint64(cycle)*3, 3, seed+int64(cycle)*10, o, stop)
		exited := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exited)
		}()
		wait := time.Duration(10+rng.Intn(60)) * time.Millisecond
		if point != "-" {
			wait = 300 * time.Millisecond // the child kills itself at the point, usually sooner
		}
		select {
		case <-exited:
		case <-time.After(wait):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
		}
		close(stop)
		wg.Wait()
		total += len(o.acked) - len(acked)
		acked = o.acked

		// Recover here and check the oracle.
		opts := killOptions(cycles, retain)
		n, err := Open(dir, opts)
		if err != nil {
			t.Fatalf("seed %d cycle %d: recovery after kill -9: %v", seed, cycle, err)
		}
		if err := checkAcked(n, acked); err != nil {
			n.Abandon()
			t.Fatalf("seed %d cycle %d: %v", seed, cycle, err)
		}
		var hash uint64
		n.Query(context.Background(), func(e *engine.Engine, _ *gateway.Dedupe) { hash = e.Checksum() })
		n.Abandon()
		if retain {
			if err := checkFullReplay(vfs.OS, dir, acked, hash); err != nil {
				t.Fatalf("seed %d cycle %d: %v", seed, cycle, err)
			}
		}
	}
	if total == 0 {
		t.Fatal("no outcome acknowledged in any cycle")
	}
	t.Logf("%d kill -9 cycles (point %s), %d outcomes acknowledged, all found after recovery", cycles, point, total)
}
