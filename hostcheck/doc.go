// Package hostcheck inspects a Linux host for what matters to cowbook's
// latency and durability: transparent huge pages, overcommit and swap (the
// arena and the fork of snapshots), CPU frequency, isolation and NUMA (the
// engine thread), the filesystem, device cache and O_DIRECT alignment of
// the data directory (the log), resource limits, and what profiling needs.
//
// Everything is read from /proc, /sys and syscalls; nothing is shelled
// out. The root of /proc and /sys is Options.Root, so tests run against
// fake trees under testdata/. A file that cannot be read never fails the
// check run: that check says "unknown" and why. Each Check carries its
// value, why it matters for this engine, and what to set.
package hostcheck
