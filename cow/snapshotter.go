package cow

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cowbook/cowbook/internal/placement"
	"golang.org/x/sys/unix"
)

// Errors returned by Snapshot or carried by Result.Err.
var (
	// ErrBusy is returned by Snapshot while a snapshot is in flight or its
	// Result has not been received yet: at most one is in flight.
	ErrBusy = errors.New("cow: a snapshot is already in flight")
	// ErrHelperDown is returned by Snapshot while the helper process is not
	// running (it died and is being restarted); try again later.
	ErrHelperDown = errors.New("cow: snapshot helper is not running")
	// ErrHelperDied is carried by a Result when the helper process died or
	// stopped answering during the snapshot; it is restarted.
	ErrHelperDied = errors.New("cow: snapshot helper died")
	// ErrChildFailed is carried by a Result when the forked child exited
	// with a failure status or was killed before the helper had the arena.
	ErrChildFailed = errors.New("cow: snapshot child failed")
	// ErrTimeout is carried by a Result when the snapshot outlived
	// Options.Timeout; the child and the helper were killed.
	ErrTimeout = errors.New("cow: snapshot timed out")
	// ErrGate is carried by a Result when Options.Gate refused the snapshot.
	ErrGate = errors.New("cow: snapshot refused by its durability gate")
	// ErrSink is matched (errors.Is) by a Result whose helper-side Sink
	// failed; the syscall errno behind it, if any, matches too.
	ErrSink = errors.New("cow: snapshot sink failed")
	// ErrProtocol is returned when the helper and the node disagree on a
	// message or a pipe header: a bug or a mismatched binary.
	ErrProtocol = errors.New("cow: protocol error")
	// ErrClosed is returned by Snapshot after Close.
	ErrClosed = errors.New("cow: snapshotter closed")
	// ErrEmptyArena is returned by Snapshot for an empty arena.
	ErrEmptyArena = errors.New("cow: empty arena")
	// ErrUnaligned is returned by Snapshot for an arena that does not start
	// on a page boundary (it must be an mmap, as the engine's is).
	ErrUnaligned = errors.New("cow: arena is not page-aligned")
)

// Mode selects how the arena is frozen.
type Mode int

const (
	// ModeFork forks a child that streams its copy-on-write image of the
	// arena; the engine pauses only for the fork.
	ModeFork Mode = iota
	// ModeStopTheWorld copies the arena into a pre-faulted memfd on the
	// engine thread; the engine pauses for the whole copy. It is the mode
	// for hosts that refuse the clone: a seccomp policy (EPERM), or strict
	// overcommit (vm.overcommit_memory=2), under which a fork must be able
	// to commit a second copy of every private writable page (ENOMEM).
	ModeStopTheWorld
)

func (m Mode) String() string {
	if m == ModeStopTheWorld {
		return "stw"
	}
	return "fork"
}

// Options configures a Snapshotter. The zero value of each field is usable
// except HelperArgs, which must name the hidden command that calls
// ServeHelper.
type Options struct {
	// Mode is ModeFork (zero) or ModeStopTheWorld.
	Mode Mode
	// HelperPath is the helper's executable; empty means /proc/self/exe,
	// the running binary.
	HelperPath string
	// HelperArgs are the helper's arguments (after argv[0]).
	HelperArgs []string
	// HelperEnv is added to the node's environment for the helper.
	HelperEnv []string
	// HelperStderr receives the helper's stderr; nil means os.Stderr.
	HelperStderr io.Writer
	// Timeout bounds one snapshot from the fork to the helper's reply;
	// past it the child and the helper are killed. Zero means 10 minutes.
	Timeout time.Duration
	// Gate, when set, is called with the snapshot's sequence number on a
	// background goroutine before the helper may write it; the node passes
	// a function that waits until the log is durable through seq. An error
	// abandons the snapshot.
	Gate func(seq uint64) error
	// RestoreHugePages, in fork mode, collapses the arena back into huge
	// pages (MADV_COLLAPSE) after each snapshot, off the engine thread:
	// copy-on-write during a snapshot splits them and makes the next fork
	// many times slower.
	RestoreHugePages bool
	// PipeSize is the data pipe's capacity; zero means 1 MiB.
	PipeSize int
	// PinHelper pins the helper process and the thread restoring huge
	// pages to HelperCPU (the log writer's CPU on a tuned box), off the
	// engine's CPU. Start fails if the kernel refuses.
	PinHelper bool
	HelperCPU int
	// BackgroundNice is the nice value of the helper process, so that on a
	// busy box the engine thread wins the CPU from it; zero means 10, -1
	// leaves it at the node's priority. (The huge-page restoring thread is
	// never niced: see collapser.)
	BackgroundNice int
	// ArenaSize, in stop-the-world mode, pre-faults the copy buffer at
	// Start instead of at the first snapshot.
	ArenaSize int
}

// EnsureDefaults fills in zero fields.
func (o *Options) EnsureDefaults() {
	if o.HelperPath == "" {
		o.HelperPath = "/proc/self/exe"
	}
	if o.HelperStderr == nil {
		o.HelperStderr = os.Stderr
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PipeSize <= 0 {
		o.PipeSize = 1 << 20
	}
	if o.BackgroundNice == 0 {
		o.BackgroundNice = 10
	}
}

// Ticket identifies a snapshot that Snapshot started.
type Ticket struct {
	ID   uint64
	Seq  uint64
	Mode Mode
	// Pause is how long Snapshot held the engine thread.
	Pause time.Duration
	// Clone is the part of Pause spent in the clone system call itself.
	Clone time.Duration
	// ChildPid is the forked child's pid (fork mode), for diagnostics.
	ChildPid int
}

// Result reports how a snapshot ended.
type Result struct {
	Ticket
	// Err is nil when the snapshot was published.
	Err error
	Published
	// Bytes is how many arena bytes the helper consumed.
	Bytes int64
	// Checksum is the CRC-32C of the arena bytes as the helper received
	// them.
	Checksum uint32
	// Elapsed runs from the fork (or copy) to the helper's reply.
	Elapsed time.Duration
	// Collapse is the time MADV_COLLAPSE took after the snapshot (with
	// RestoreHugePages), and CollapseErr its error: EINVAL where the arena
	// is not eligible for huge pages.
	Collapse    time.Duration
	CollapseErr error
	// Hot is the time privatizeHot took for Meta.Hot, and HotErr its
	// error (the snapshot itself is unaffected by one).
	Hot    time.Duration
	HotErr error
}

type job struct {
	t      Ticket
	layout uint32
	state  uint64 // Meta.StateChecksum
	arena  []byte
	start  time.Time
	hot    bool // hot spans sent to the collapser
	// fork mode
	pid, pidfd, pipeRd int
	// stop-the-world mode
	memfd int
}

type helperProc struct {
	cmd    *exec.Cmd
	ctrl   int
	exited chan struct{}
}

// Snapshotter takes snapshots of an arena through one helper process.
// Snapshot must be called from one goroutine (the engine's); Results,
// Progress and HelperPid may be called from any.
type Snapshotter struct {
	opts Options

	inflight atomic.Bool
	helperUp atomic.Bool
	closed   atomic.Bool
	helperPd atomic.Int64
	jobs     chan job
	results  chan Result
	closing  chan struct{}
	done     chan struct{}

	// Owned by the engine goroutine.
	nextID     uint64
	args       forkArgs
	hdr        [headerSize]byte
	dontdumped uintptr
	stw        *memfdBuf

	statusFd int
	status   *statusPage

	// Huge-page restoration runs on a thread of its own (collapser).
	collapseReq chan collapseJob
	collapseRes chan error
	hotRes      chan hotResult

	// Owned by the supervisor goroutine.
	helper   *helperProc
	backoff  time.Duration
	closeOne sync.Once
}

// Start starts the helper process and the supervisor goroutine.
func Start(opts Options) (*Snapshotter, error) {
	opts.EnsureDefaults()
	if len(opts.HelperArgs) == 0 {
		return nil, errors.New("cow: Options.HelperArgs must name the helper command")
	}
	s := &Snapshotter{
		opts:    opts,
		jobs:    make(chan job, 1),
		results: make(chan Result, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),

		collapseReq: make(chan collapseJob, 1),
		collapseRes: make(chan error, 1),
		hotRes:      make(chan hotResult, 1),
	}
	fd, err := newStatusMemfd()
	if err != nil {
		return nil, err
	}
	s.statusFd = fd
	if s.status, err = mapStatus(fd); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if opts.Mode == ModeStopTheWorld && opts.ArenaSize > 0 {
		if s.stw, err = newMemfdBuf(opts.ArenaSize); err != nil {
			s.release()
			return nil, err
		}
	}
	if err := s.startHelper(); err != nil {
		s.release()
		return nil, err
	}
	go s.supervise()
	go s.collapser()
	return s, nil
}

// Results delivers one Result per Ticket, in order. Snapshot refuses a new
// snapshot (ErrBusy) until the previous Result has been received.
func (s *Snapshotter) Results() <-chan Result { return s.results }

// Progress reads the helper's status page, without a syscall.
func (s *Snapshotter) Progress() Progress { return s.status.read() }

// HelperPid returns the pid of the running helper, or 0.
func (s *Snapshotter) HelperPid() int { return int(s.helperPd.Load()) }

// Ready reports whether the helper is running, so that Snapshot will not
// return ErrHelperDown.
func (s *Snapshotter) Ready() bool { return s.helperUp.Load() }

// Snapshot freezes arena at m.Seq and starts writing it; it returns once the
// child is forked (or, in stop-the-world mode, the arena copied), with the
// pause it cost. The outcome arrives on Results. The arena must stay mapped
// until then. Call it from the goroutine that owns the arena, with the arena
// quiescent (not being written) for the duration of the call. The arena
// must start on a page boundary.
func (s *Snapshotter) Snapshot(arena []byte, m Meta) (Ticket, error) {
	t0 := time.Now()
	if s.closed.Load() {
		return Ticket{}, ErrClosed
	}
	if len(arena) == 0 {
		return Ticket{}, ErrEmptyArena
	}
	if arenaAddr(arena)%uintptr(os.Getpagesize()) != 0 {
		return Ticket{}, ErrUnaligned
	}
	if !s.helperUp.Load() {
		return Ticket{}, ErrHelperDown
	}
	if len(s.results) > 0 || !s.inflight.CompareAndSwap(false, true) {
		return Ticket{}, ErrBusy
	}
	s.nextID++
	t := Ticket{ID: s.nextID, Seq: m.Seq, Mode: s.opts.Mode}
	j := job{t: t, layout: m.LayoutVersion, state: m.StateChecksum, arena: arena, pidfd: -1, pipeRd: -1, memfd: -1}
	var err error
	if s.opts.Mode == ModeStopTheWorld {
		err = s.copyOut(&j)
	} else {
		err = s.fork(&j, m)
	}
	if err != nil {
		s.inflight.Store(false)
		return Ticket{}, err
	}
	j.t.Pause = time.Since(t0)
	s.jobs <- j // cannot block: the previous job was taken before its result was sent
	return j.t, nil
}

func (s *Snapshotter) fork(j *job, m Meta) error {
	base := arenaAddr(j.arena)
	if s.dontdumped != base {
		// A core dump of the node or of a child must never contain the
		// arena (the child also sets RLIMIT_CORE to zero).
		if err := unix.Madvise(j.arena, unix.MADV_DONTDUMP); err != nil {
			return fmt.Errorf("cow: madvise(MADV_DONTDUMP): %w", err)
		}
		s.dontdumped = base
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("cow: pipe2: %w", err)
	}
	// A larger pipe means fewer vmsplice round trips; failure (above
	// /proc/sys/fs/pipe-max-size) only costs speed.
	_, _ = unix.FcntlInt(uintptr(p[1]), unix.F_SETPIPE_SZ, s.opts.PipeSize)
	putHeader(&s.hdr, j.t.ID, m.Seq, int64(len(j.arena)), m.LayoutVersion)
	s.args.prepare(p[1], os.Getpid(), &s.hdr, j.arena)

	runtime.LockOSThread() // the child's PDEATHSIG watches this thread
	t0 := time.Now()
	pid, pidfd, errno := forkStream(&s.args)
	j.t.Clone = time.Since(t0)
	runtime.UnlockOSThread()

	unix.Close(p[1])
	if errno != 0 {
		unix.Close(p[0])
		return fmt.Errorf("cow: clone: %w", errno)
	}
	j.pid, j.pidfd, j.pipeRd = pid, pidfd, p[0]
	j.t.ChildPid = pid
	j.start = time.Now()
	if hot := normalizeHot(m.Hot, len(j.arena), hugePage); len(hot) > 0 {
		// The collapser is idle: the previous snapshot's restoration
		// finished before its Result was delivered.
		s.collapseReq <- collapseJob{arena: j.arena, hot: hot}
		j.hot = true
	}
	return nil
}

func (s *Snapshotter) copyOut(j *job) error {
	if s.stw == nil || len(s.stw.mem) != len(j.arena) {
		s.stw.release()
		s.stw = nil
		b, err := newMemfdBuf(len(j.arena))
		if err != nil {
			return err
		}
		s.stw = b
	}
	copy(s.stw.mem, j.arena)
	j.memfd = s.stw.fd
	j.start = time.Now()
	return nil
}

// Close waits for a snapshot in flight, stops the helper and releases
// everything. Call it from the engine goroutine, after its last Snapshot.
func (s *Snapshotter) Close() error {
	s.closeOne.Do(func() {
		s.closed.Store(true)
		close(s.closing)
		<-s.done
		s.release()
	})
	return nil
}

func (s *Snapshotter) release() {
	s.status.unmap()
	if s.statusFd >= 0 {
		unix.Close(s.statusFd)
		s.statusFd = -1
	}
	s.stw.release()
	s.stw = nil
}

// supervise owns the helper: it serves jobs, notices the helper's death and
// restarts it.
func (s *Snapshotter) supervise() {
	defer close(s.done)
	var retry <-chan time.Time
	for {
		var exited chan struct{}
		if s.helper != nil {
			exited = s.helper.exited
		}
		select {
		case j := <-s.jobs:
			s.deliver(s.runJob(j))
		case <-exited:
			s.reapHelper()
		case <-retry:
			retry = nil
		case <-s.closing:
			select {
			case j := <-s.jobs: // Snapshot raced with Close: finish it
				s.deliver(s.runJob(j))
			default:
			}
			s.stopHelper()
			close(s.collapseReq)
			return
		}
		if s.helper == nil && retry == nil {
			if err := s.startHelper(); err != nil {
				s.backoff = min(max(2*s.backoff, 50*time.Millisecond), 5*time.Second)
				retry = time.After(s.backoff)
			} else {
				s.backoff = 0
			}
		}
	}
}

func (s *Snapshotter) deliver(r Result) {
	s.inflight.Store(false)
	select {
	case s.results <- r:
	case <-s.closing:
		select {
		case s.results <- r:
		default:
		}
	}
}

func (s *Snapshotter) startHelper() error {
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("cow: socketpair: %w", err)
	}
	statusDup, err := unix.FcntlInt(uintptr(s.statusFd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		unix.Close(sp[0])
		unix.Close(sp[1])
		return fmt.Errorf("cow: dup status page: %w", err)
	}
	ctrlFile := os.NewFile(uintptr(sp[1]), "cow-ctrl")
	statusFile := os.NewFile(uintptr(statusDup), "cow-status")
	cmd := exec.Command(s.opts.HelperPath, s.opts.HelperArgs...)
	cmd.Env = append(os.Environ(), s.opts.HelperEnv...)
	cmd.Stderr = s.opts.HelperStderr
	cmd.ExtraFiles = []*os.File{ctrlFile, statusFile} // fds 3 and 4
	// The helper dies with the node; it also exits when the control socket
	// reaches EOF, which covers the thread-exit caveat of Pdeathsig.
	// Its own process group keeps a terminal's Ctrl-C away from it: the node
	// catches SIGINT to take its shutdown snapshot, which needs the helper.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	err = cmd.Start()
	ctrlFile.Close()
	statusFile.Close()
	if err != nil {
		unix.Close(sp[0])
		return fmt.Errorf("cow: start helper %s: %w", s.opts.HelperPath, err)
	}
	if s.opts.BackgroundNice > 0 {
		renice(cmd.Process.Pid, s.opts.BackgroundNice)
	}
	h := &helperProc{cmd: cmd, ctrl: sp[0], exited: make(chan struct{})}
	if s.opts.PinHelper {
		if err := placement.PinProcess(cmd.Process.Pid, s.opts.HelperCPU); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			unix.Close(sp[0])
			return fmt.Errorf("cow: pin helper: %w", err)
		}
	}
	go func() {
		_ = cmd.Wait() // reaps exactly this pid
		close(h.exited)
	}()
	s.helper = h
	s.helperPd.Store(int64(cmd.Process.Pid))
	s.helperUp.Store(true)
	return nil
}

// killHelper kills the helper and waits until it is reaped.
func (s *Snapshotter) killHelper() {
	if s.helper == nil {
		return
	}
	_ = s.helper.cmd.Process.Kill()
	s.reapHelper()
}

// reapHelper waits for the helper's exit and forgets it.
func (s *Snapshotter) reapHelper() {
	h := s.helper
	if h == nil {
		return
	}
	s.helperUp.Store(false)
	<-h.exited
	unix.Close(h.ctrl)
	s.helper = nil
	s.helperPd.Store(0)
}

// stopHelper asks the helper to exit by closing the control socket, and
// kills it if it does not within a few seconds.
func (s *Snapshotter) stopHelper() {
	h := s.helper
	if h == nil {
		return
	}
	s.helperUp.Store(false)
	unix.Shutdown(h.ctrl, unix.SHUT_RDWR)
	select {
	case <-h.exited:
	case <-time.After(5 * time.Second):
		_ = h.cmd.Process.Kill()
	}
	s.reapHelper()
}

// runJob hands a frozen arena to the helper and waits for the outcome.
func (s *Snapshotter) runJob(j job) Result {
	res := Result{Ticket: j.t}
	res.Err = s.runJob1(j, &res)
	if j.hot {
		h := <-s.hotRes
		res.Hot, res.HotErr = h.took, h.err
	}
	res.Elapsed = time.Since(j.start)
	if j.t.Mode == ModeFork && s.opts.RestoreHugePages {
		t0 := time.Now()
		s.collapseReq <- collapseJob{arena: j.arena}
		res.CollapseErr = <-s.collapseRes
		res.Collapse = time.Since(t0)
	}
	if res.Err != nil {
		res.Published = Published{}
		res.Err = fmt.Errorf("snapshot %d (seq %d): %w", j.t.ID, j.t.Seq, res.Err)
	}
	return res
}

func (s *Snapshotter) runJob1(j job, res *Result) error {
	deadline := j.start.Add(s.opts.Timeout)
	child := childState{pid: j.pid, pidfd: j.pidfd}
	defer child.finish()
	fd, op := j.pipeRd, opPipe
	if j.t.Mode == ModeStopTheWorld {
		fd, op = j.memfd, opMemfd
	}
	closeFd := func() {
		if j.pipeRd >= 0 {
			unix.Close(j.pipeRd)
			j.pipeRd = -1
		}
	}
	defer closeFd()

	if s.opts.Gate != nil {
		if err := s.opts.Gate(j.t.Seq); err != nil {
			return fmt.Errorf("%w: %w", ErrGate, err)
		}
	}
	h := s.helper
	if h == nil {
		return ErrHelperDown
	}
	req := request{Op: op, ID: j.t.ID, Seq: j.t.Seq, ArenaSize: int64(len(j.arena)), LayoutVersion: j.layout, StateChecksum: j.state}
	if err := sendMsg(h.ctrl, req, fd); err != nil {
		s.killHelper()
		return fmt.Errorf("%w: send request: %v", ErrHelperDied, err)
	}
	closeFd() // the helper holds it now; the child sees EPIPE if the helper dies

	var rep reply
	replied, helperDead, timedOut := false, false, false
	for !(replied || helperDead) || !child.done() {
		fds := make([]unix.PollFd, 0, 2)
		if !replied && !helperDead {
			fds = append(fds, unix.PollFd{Fd: int32(h.ctrl), Events: unix.POLLIN})
		}
		if !child.done() {
			fds = append(fds, unix.PollFd{Fd: int32(child.pidfd), Events: unix.POLLIN})
		}
		wait := time.Until(deadline)
		if timedOut {
			wait = time.Second // the kills below are in progress
		}
		n, err := unix.Poll(fds, int(max(wait.Milliseconds(), 0))+1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("cow: poll: %w", err)
		}
		if n == 0 {
			if !timedOut && time.Now().After(deadline) {
				timedOut = true
				child.kill()
				s.killHelper()
				helperDead = true
			}
			continue
		}
		for _, p := range fds {
			if p.Revents == 0 {
				continue
			}
			if int(p.Fd) == child.pidfd {
				child.reap()
				continue
			}
			if p.Revents&unix.POLLIN != 0 {
				_, err := recvMsg(h.ctrl, &rep)
				if err == nil && rep.ID == j.t.ID {
					replied = true
					continue
				}
				// EOF or a reply to someone else: the helper is dead or confused.
			}
			helperDead = true
			child.kill()
			s.killHelper()
		}
	}
	switch {
	case timedOut:
		return fmt.Errorf("%w after %v (helper killed; child %s)", ErrTimeout, s.opts.Timeout, child.status())
	case helperDead:
		return fmt.Errorf("%w (child %s)", ErrHelperDied, child.status())
	}
	res.Bytes, res.Checksum = rep.Bytes, rep.Checksum
	res.Path, res.FileBytes = rep.Path, rep.FileBytes
	if rep.Error != "" {
		err := error(&remoteError{msg: "helper: " + rep.Error, errno: syscall.Errno(rep.Errno)})
		if child.failed() {
			return fmt.Errorf("%w (child %s)", err, child.status())
		}
		return err
	}
	if rep.Bytes != int64(len(j.arena)) {
		return fmt.Errorf("%w: helper consumed %d of %d bytes", ErrProtocol, rep.Bytes, len(j.arena))
	}
	return nil
}

// childState tracks one forked child until it is reaped. A zero pid means
// there is no child (stop-the-world mode).
type childState struct {
	pid, pidfd int
	reaped     bool
	ws         unix.WaitStatus
}

func (c *childState) done() bool { return c.pid == 0 || c.reaped }

// kill sends SIGKILL through the pidfd, which cannot hit a recycled pid.
func (c *childState) kill() {
	if c.pid != 0 && !c.reaped {
		_ = unix.PidfdSendSignal(c.pidfd, unix.SIGKILL, nil, 0)
	}
}

// reap collects the child's status with wait4 on its own pid (never -1:
// other children of the node are not ours to reap).
func (c *childState) reap() {
	if c.pid == 0 || c.reaped {
		return
	}
	for {
		_, err := unix.Wait4(c.pid, &c.ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	c.reaped = true
}

// finish kills and reaps a child still running (an error path) and closes
// the pidfd, so no zombie and no descriptor outlives the snapshot.
func (c *childState) finish() {
	if c.pid == 0 {
		return
	}
	c.kill()
	c.reap()
	unix.Close(c.pidfd)
	c.pid = 0
}

func (c *childState) failed() bool {
	return c.pid != 0 && c.reaped && !(c.ws.Exited() && c.ws.ExitStatus() == 0)
}

func (c *childState) status() string {
	switch {
	case c.pid == 0:
		return "none"
	case !c.reaped:
		return "running"
	case c.ws.Signaled():
		return fmt.Sprintf("killed by signal %d (%v)", int(c.ws.Signal()), c.ws.Signal())
	case c.ws.Exited() && c.ws.ExitStatus() == 0:
		return "exited 0"
	case c.ws.Exited():
		return fmt.Sprintf("exited %d (%s)", c.ws.ExitStatus(), childExitReason(c.ws.ExitStatus()))
	}
	return fmt.Sprintf("status %#x", uint32(c.ws))
}

func childExitReason(code int) string {
	switch code {
	case exitPdeathsig:
		return "prctl(PR_SET_PDEATHSIG) failed"
	case exitOrphan:
		return "parent died before the fork completed"
	case exitDumpable:
		return "prctl(PR_SET_DUMPABLE) failed"
	case exitRlimit:
		return "prlimit(RLIMIT_CORE) failed"
	case exitCloseRange:
		return "close_range failed"
	case exitHeader:
		return "writing the header failed"
	case exitArena:
		return "writing the arena failed"
	}
	return "unknown"
}

// memfdBuf is the stop-the-world copy buffer: a memfd mapped shared and
// pre-faulted, so the copy under the engine thread never takes a page fault.
type memfdBuf struct {
	fd  int
	mem []byte
}

func newMemfdBuf(size int) (*memfdBuf, error) {
	fd, err := unix.MemfdCreate("cowbook-cow-stw", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("cow: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cow: ftruncate stop-the-world buffer: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("cow: mmap stop-the-world buffer: %w", err)
	}
	if err := unix.Madvise(mem, unix.MADV_POPULATE_WRITE); err != nil {
		for i := 0; i < len(mem); i += 4096 { // kernels before 5.14
			mem[i] = 0
		}
	}
	return &memfdBuf{fd: fd, mem: mem}, nil
}

func (b *memfdBuf) release() {
	if b == nil {
		return
	}
	unix.Munmap(b.mem)
	unix.Close(b.fd)
}

// collapser serves huge-page restoration, and the hot spans of a fork
// (privatizeHot), on a thread of its own (pinned
// with the helper when PinHelper is set). It is deliberately not niced:
// MADV_COLLAPSE holds the address space's write lock while it copies each
// huge page, and an engine write to that range waits for it, so a
// low-priority collapse thread preempted on a busy box would stall the
// engine (priority inversion). It keeps the thread locked until it exits, so
// the runtime destroys the thread rather than hand its CPU mask to other
// goroutines.
func (s *Snapshotter) collapser() {
	runtime.LockOSThread()
	if s.opts.PinHelper {
		// Best effort: Start already proved the CPU usable for the helper.
		_, _ = placement.PinThread(s.opts.HelperCPU)
	}
	for c := range s.collapseReq {
		if c.hot != nil {
			t0 := time.Now()
			err := privatizeHot(c.arena, c.hot)
			s.hotRes <- hotResult{took: time.Since(t0), err: err}
			continue
		}
		s.collapseRes <- collapse(c.arena)
	}
}

// renice lowers the priority of every thread of process pid (nice values
// are per thread on Linux; threads created later inherit their creator's).
// Twice, to catch threads the runtime was starting during the first pass.
func renice(pid, nice int) {
	for range 2 {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		for _, t := range tasks {
			if tid, err := strconv.Atoi(t.Name()); err == nil {
				_ = unix.Setpriority(unix.PRIO_PROCESS, tid, nice)
			}
		}
	}
}

// collapseJob is a request to the collapser thread: the whole arena after
// a snapshot, or its hot spans right after a fork.
type collapseJob struct {
	arena []byte
	hot   []Span
}

type hotResult struct {
	took time.Duration
	err  error
}

// hugePage is the size of a transparent huge page on the supported
// platforms, the unit of MADV_COLLAPSE.
const hugePage = 2 << 20

// normalizeHot returns the hot spans as privatizeHot takes them: clipped
// to an arena of size bytes, widened to whole units of align bytes (from
// the arena's start: the engine's arena is huge-page aligned), sorted,
// and merged where they overlap or touch.
func normalizeHot(hot []Span, size, align int) []Span {
	out := make([]Span, 0, len(hot))
	for _, h := range hot {
		lo, hi := max(h.Off, 0), min(h.Off+max(h.Len, 0), size)
		if lo >= hi {
			continue
		}
		lo, hi = lo/align*align, min((hi+align-1)/align*align, size)
		i := len(out)
		out = append(out, Span{})
		for i > 0 && out[i-1].Off > lo {
			out[i] = out[i-1]
			i--
		}
		out[i] = Span{Off: lo, Len: hi - lo}
	}
	merged := out[:0]
	for _, h := range out {
		if n := len(merged); n > 0 && h.Off <= merged[n-1].Off+merged[n-1].Len {
			merged[n-1].Len = max(merged[n-1].Len, h.Off+h.Len-merged[n-1].Off)
			continue
		}
		merged = append(merged, h)
	}
	return merged
}

// privatizeHot gives the node pages of its own for the hot spans, right
// after a fork and off the engine thread. Otherwise, while the child lives,
// each page of a span costs the engine a copy-on-write fault on its first
// write (a hashed index takes a write on every page within milliseconds),
// its huge pages are split, and the engine walks the rest of the snapshot
// with 4 KiB TLB entries over them. For each huge page of a span it first
// makes sure the node maps it with small pages (one populating write fault,
// which splits a still-shared huge mapping), then collapses it:
// MADV_COLLAPSE copies it into a new huge page mapped by the node alone, and
// the child keeps the old ones, so the snapshot is unchanged. Where huge
// pages are not available it breaks the sharing page by page instead
// (MADV_POPULATE_WRITE), which still takes the faults off the engine
// thread.
func privatizeHot(arena []byte, hot []Span) error {
	var resident [hugePage / 4096]byte
	for _, h := range hot {
		for off := h.Off; off < h.Off+h.Len; off += hugePage {
			r := arena[off:min(off+hugePage, h.Off+h.Len)]
			// A huge page the node never touched is not shared: its
			// first write will get a fresh page, no copy. Leave it
			// unallocated.
			in := resident[:(len(r)+4095)/4096]
			if err := mincore(r, in); err != nil {
				return fmt.Errorf("cow: mincore of hot span at %d: %w", off, err)
			}
			first := 0
			for first < len(in) && in[first]&1 == 0 {
				first++
			}
			if first == len(in) {
				continue
			}
			p := r[first*4096:]
			_ = unix.Madvise(p[:min(4096, len(p))], unix.MADV_POPULATE_WRITE)
			if err := unix.Madvise(r, unix.MADV_COLLAPSE); err != nil {
				if err := unix.Madvise(r, unix.MADV_POPULATE_WRITE); err != nil {
					return fmt.Errorf("cow: madvise(MADV_POPULATE_WRITE) of hot span at %d: %w", off, err)
				}
			}
		}
	}
	return nil
}

// mincore reports in vec, one byte per page of b, whether the page is
// resident (bit 0).
func mincore(b, vec []byte) error {
	_, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), uintptr(unsafe.Pointer(&vec[0])))
	if e != 0 {
		return e
	}
	return nil
}

// collapse asks the kernel to rebuild the arena's huge pages. It is
// synchronous (hundreds of ms per GiB) and holds the address space's lock
// while it copies each huge page, which is why it never runs on the engine
// thread.
func collapse(arena []byte) error {
	if err := unix.Madvise(arena, unix.MADV_COLLAPSE); err != nil {
		return fmt.Errorf("cow: madvise(MADV_COLLAPSE): %w", err)
	}
	return nil
}
