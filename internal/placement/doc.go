// Package placement puts cowbook's threads and memory where a low-latency
// deployment wants them: the engine goroutine's OS thread pinned to one CPU,
// the log writer and the snapshot helper pinned elsewhere, the process's
// memory locked so it is never paged out, and the arena pre-faulted so the
// first order does not pay for page faults.
//
// Every function reports a refusal by the kernel as an error wrapping
// ErrRefused (or ErrNoSuchCPU) that names the syscall, the errno and what
// to change; nothing is retried or silently skipped. Callers decide
// whether a refusal is fatal: a benchmark may print it and go on unpinned,
// a production node started with --engine-cpu should not.
package placement
