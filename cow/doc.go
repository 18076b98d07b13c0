// Package cow takes consistent snapshots of the engine's arena while the
// engine keeps running, the way Redis BGSAVE does: the engine thread forks,
// the child streams its frozen copy-on-write image of the arena into a pipe
// and exits, and a long-lived helper process writes the image to disk.
//
// # Processes
//
//	node (engine thread)                          helper (re-exec of the same binary)
//	Snapshot: clone ──▶ child ──vmsplice──▶ pipe ──▶ reads header + arena
//	supervisor goroutine ──control socket──────────▶ "pipe" request + SCM_RIGHTS(read end)
//	                     ◀─────────────────────────── reply: seq, bytes, CRC-32C, file
//	Progress() ◀────────── status page (memfd, shared) ◀── state, bytes done
//
// The helper is started once by Start as argv HelperPath HelperArgs… (the
// running executable by default) with the control socket as fd 3 and the
// status page as fd 4; that process calls ServeHelper with a Sink that writes
// the snapshot file: MmapsnapSink for the node (`cowbook __cow-helper`),
// RawFileSink for an uncompressed floor. If
// the helper dies, the snapshot in flight fails with ErrHelperDied, the
// helper is restarted, and the node's next Snapshot (its Policy marks a failed
// snapshot due at once) succeeds. Nothing in the helper can stop the engine.
//
// The child is forked by the raw clone in fork_linux.go, which holds every
// unsafe line of the package but the status page's atomics. It is reaped by
// polling its pidfd and calling wait4 on its pid (never wait4(-1), which
// would steal other children's statuses), and killed with pidfd_send_signal
// when a snapshot outlives Options.Timeout.
//
// # What a fork costs the node
//
// The clone copies the page tables of every private mapping: per 2 MiB for
// the arena's huge pages, but ≈ 0.3 µs per 4 KiB page for everything else
// that is resident and private, the Go heap included. So the node keeps its
// Go heap small, keeps any large side structure in a shared mapping (not
// copied, never copy-on-write), and runs with RestoreHugePages: one
// snapshot under writes splits the arena's huge pages, and the next fork
// would cost ten times more. BENCHMARKS.md (## cow) has the figures.
//
// While the child lives, the first write to each page costs the engine a
// copy-on-write fault, and splits the huge page it is in. Most of the arena
// is written near the prices and pool slots in use, but the order-id index
// is hashed: a few thousand new orders touch every page of it, and the
// engine would walk it with 4 KiB TLB entries until the snapshot ends.
// Meta.Hot names such spans; right after the fork the collapser thread
// copies them into huge pages of the node's own (privatizeHot), and the
// child keeps the old pages. The memory is what copy-on-write would have
// taken anyway, rounded up to huge pages.
//
// In stop-the-world mode (ModeStopTheWorld) there is no child: the engine
// thread copies the arena into a pre-faulted memfd and the same helper reads
// it from there. It exists for comparison and for systems where fork is
// refused.
//
// # Durability gate
//
// The arena at a fork may hold commands whose log records are not durable
// yet. A snapshot of sequence S must not be published before the log is
// durable through S, so Options.Gate, when set, is called with S on the
// supervisor goroutine after the fork and before the helper is handed the
// pipe; the helper starts writing only once it returns nil (the child waits,
// blocked on the full pipe, which costs nothing but time). A gate error
// abandons the snapshot: the child is killed and nothing is written. The log
// may be truncated through S only after the Result reports success, which
// the helper sends after the file, its rename and its directory are durable.
//
// # Pipe stream
//
// The child writes a 64-byte header, then the arena's bytes:
//
//	offset size
//	0      8    magic "cowsnap\x01"
//	8      8    snapshot id (unique per Snapshotter, little-endian)
//	16     8    sequence number S
//	24     8    arena size in bytes
//	32     4    layout version
//	36     24   zero
//	60     4    CRC-32C (Castagnoli) of bytes 0..59
//
// The helper checks the header against the request it received with the
// pipe, so a pipe can never be written under another snapshot's name.
//
// # Control socket
//
// A SOCK_SEQPACKET socketpair, one message per datagram, JSON-encoded
// (requests and replies are rare and tiny; readability wins). Request
// {"op":"pipe"|"memfd","id","seq","layout_version","arena_size","state_checksum"} carries one
// descriptor by SCM_RIGHTS: the pipe's read end, or the stop-the-world memfd.
// Reply {"id","seq","bytes","checksum","file_bytes","path","error","errno"}:
// bytes is how many arena bytes the helper consumed, checksum their CRC-32C,
// and errno the syscall errno behind a failure, if any, so the node can
// recognise a full disk (errors.Is(err, syscall.ENOSPC)).
//
// # Status page
//
// One shared 4 KiB memfd page of little-endian uint64 words, written by the
// helper with atomic stores and read by the node without a syscall:
//
//	word 0  magic
//	word 1  helper pid
//	word 2  state (StateIdle, StateReceiving, StateDone, StateFailed)
//	word 3  snapshot id
//	word 4  sequence number
//	word 5  bytes received so far
//	word 6  bytes expected
package cow
